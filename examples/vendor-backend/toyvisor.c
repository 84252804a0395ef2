/*
 * toyvisor.c - a minimal, complete HAL backend written in plain C against hal.h alone: what a
 * hypervisor vendor starts from. Its "VMs" are records in memory with the HAL state machine;
 * it implements the required entries plus pause/resume, and leaves everything else NULL so the
 * host answers HAL_UNSUPPORTED. Build it out of tree with this folder's CMakeLists.txt.
 */
#include <hal/hal.h>
#include <hal/names.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOY_MAX_VMS 64
#define TOY_NAME_SIZE 64

/* One VM record. */
typedef struct toy_vm_record {
  int in_use;
  char name[TOY_NAME_SIZE];
  hal_vm_state state;
  unsigned generation; /* bumped on every create, so a stale handle never sees a new VM */
} toy_vm_record;

/* A backend instance: a fixed table of VMs behind one mutex. */
struct hal_backend {
  pthread_mutex_t lock;
  toy_vm_record vms[TOY_MAX_VMS];
  hal_event_fn on_event;
  void *user_data;
  int open_handles;
};

/* A VM handle points at its record and remembers which VM occupied it. */
struct hal_vm {
  hal_backend *backend;
  int index;
  unsigned generation;
};

/* The record a handle refers to, or NULL once that VM was deleted. Call with the lock held. */
static toy_vm_record *record_of(const hal_vm *vm) {
  toy_vm_record *record = &vm->backend->vms[vm->index];
  return record->in_use && record->generation == vm->generation ? record : NULL;
}

static hal_status fail(hal_error *error, hal_status status, const char *format, ...) {
  if (error != NULL && error->struct_size >= sizeof(hal_error)) {
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
  }
  return status;
}

static char *dup_string(const char *text) {
  size_t size = strlen(text) + 1;
  char *copy = malloc(size);
  if (copy != NULL) memcpy(copy, text, size);
  return copy;
}

/* Sends a state-change event; called without the lock held, as hal.h asks. */
static void emit_state(hal_backend *backend, const char *name, hal_vm_state state) {
  hal_event event;
  struct timespec now;
  if (backend->on_event == NULL) return;
  clock_gettime(CLOCK_REALTIME, &now);
  memset(&event, 0, sizeof event);
  event.struct_size = sizeof event;
  event.type = HAL_EVENT_STATE_CHANGED;
  event.vm_id = name;
  event.state = state;
  event.timestamp_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
  backend->on_event(backend->user_data, &event);
}

/* Finds "name":"..." in a spec the host already validated. Real backends use a JSON library. */
static int spec_name(const char *spec_json, char *out, size_t size) {
  const char *key = strstr(spec_json, "\"name\"");
  const char *start;
  const char *end;
  if (key == NULL) return 0;
  start = strchr(key + 6, '"');
  if (start == NULL) return 0;
  end = strchr(start + 1, '"');
  if (end == NULL || (size_t)(end - start - 1) >= size || end == start + 1) return 0;
  memcpy(out, start + 1, (size_t)(end - start - 1));
  out[end - start - 1] = '\0';
  return 1;
}

static hal_status toy_get_identity(uint32_t flags, char **out_json, hal_error *error) {
  if (out_json == NULL) return fail(error, HAL_INVALID_ARGUMENT, "out_json is NULL");
  *out_json = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  *out_json = dup_string(
      "{\"name\":\"toyvisor\",\"vendor\":\"HAL examples\",\"version\":\"1.0.0\","
      "\"description\":\"minimal C backend\",\"hypervisor\":\"none\"}");
  return *out_json != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

static void toy_free_string(char *string) {
  free(string);
}

static hal_status toy_open(const char *config_json, hal_event_fn on_event, void *user_data,
                           uint32_t flags, hal_backend **out_backend, hal_error *error) {
  hal_backend *backend;
  (void)config_json;
  if (out_backend == NULL) return fail(error, HAL_INVALID_ARGUMENT, "out_backend is NULL");
  *out_backend = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  backend = calloc(1, sizeof *backend);
  if (backend == NULL) return fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
  pthread_mutex_init(&backend->lock, NULL);
  backend->on_event = on_event;
  backend->user_data = user_data;
  *out_backend = backend;
  return HAL_OK;
}

static hal_status toy_close(hal_backend *backend, uint32_t flags, hal_error *error) {
  if (backend == NULL) return fail(error, HAL_INVALID_ARGUMENT, "backend is NULL");
  if (flags & ~HAL_CLOSE_FLAGS_ALL) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags");
  if (backend->open_handles > 0)
    return fail(error, HAL_FAILED_PRECONDITION, "%d VM handles still open", backend->open_handles);
  pthread_mutex_destroy(&backend->lock);
  free(backend);
  return HAL_OK;
}

static hal_status toy_get_capabilities(hal_backend *backend, uint32_t flags, char **out_json,
                                       hal_error *error) {
  if (backend == NULL || out_json == NULL)
    return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  *out_json = dup_string(
      "{\"abiVersion\":\"1.0\",\"hypervisor\":\"none\",\"accelerator\":\"none\","
      "\"operations\":{\"pause\":true,\"resume\":true},"
      "\"features\":{\"liveMigration\":false,\"numa\":false,\"vcpuPinning\":false,"
      "\"tdx\":false,\"console\":false,\"snapshot\":false,\"hotplug\":false},"
      "\"limits\":{\"maxVms\":64}}");
  return *out_json != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

static hal_status toy_get_host_info(hal_backend *backend, uint32_t flags, char **out_json,
                                    hal_error *error) {
  if (backend == NULL || out_json == NULL)
    return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  *out_json = dup_string(
      "{\"cpus\":1,\"numaNodes\":[{\"id\":0,\"cpus\":[0],\"memory\":\"1Gi\"}],"
      "\"pciDevices\":[],\"tdx\":{\"supported\":false,\"reason\":\"toyvisor has no TDX\"},"
      "\"accelerator\":\"none\"}");
  return *out_json != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

static hal_vm *new_handle(hal_backend *backend, int index) {
  hal_vm *vm = malloc(sizeof *vm);
  if (vm == NULL) return NULL;
  vm->backend = backend;
  vm->index = index;
  vm->generation = backend->vms[index].generation;
  backend->open_handles++;
  return vm;
}

static hal_status toy_vm_create(hal_backend *backend, const char *spec_json, uint32_t flags,
                                hal_vm **out_vm, hal_error *error) {
  char name[TOY_NAME_SIZE];
  int i, free_slot = -1;
  if (backend == NULL || spec_json == NULL || out_vm == NULL)
    return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_vm = NULL;
  if (flags & ~HAL_CREATE_FLAGS_ALL) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags");
  if (flags & HAL_CREATE_START)
    return fail(error, HAL_UNSUPPORTED, "toyvisor does not support HAL_CREATE_START");
  if (!spec_name(spec_json, name, sizeof name))
    return fail(error, HAL_INVALID_ARGUMENT, "spec.name: missing or longer than 63 characters");
  pthread_mutex_lock(&backend->lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    if (backend->vms[i].in_use && strcmp(backend->vms[i].name, name) == 0) {
      pthread_mutex_unlock(&backend->lock);
      return fail(error, HAL_ALREADY_EXISTS, "VM '%s' already exists", name);
    }
    if (!backend->vms[i].in_use && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) {
    pthread_mutex_unlock(&backend->lock);
    return fail(error, HAL_RESOURCE_EXHAUSTED, "toyvisor holds at most %d VMs", TOY_MAX_VMS);
  }
  if (flags & HAL_CREATE_VALIDATE_ONLY) {
    pthread_mutex_unlock(&backend->lock);
    return HAL_OK;
  }
  backend->vms[free_slot].in_use = 1;
  backend->vms[free_slot].generation++;
  backend->vms[free_slot].state = HAL_VM_STATE_STOPPED;
  strcpy(backend->vms[free_slot].name, name);
  *out_vm = new_handle(backend, free_slot);
  pthread_mutex_unlock(&backend->lock);
  if (*out_vm == NULL) return fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
  emit_state(backend, name, HAL_VM_STATE_STOPPED);
  return HAL_OK;
}

static hal_status toy_vm_lookup(hal_backend *backend, const char *vm_id, uint32_t flags,
                                hal_vm **out_vm, hal_error *error) {
  int i;
  if (backend == NULL || vm_id == NULL || out_vm == NULL)
    return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_vm = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  pthread_mutex_lock(&backend->lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    if (backend->vms[i].in_use && strcmp(backend->vms[i].name, vm_id) == 0) {
      *out_vm = new_handle(backend, i);
      break;
    }
  }
  pthread_mutex_unlock(&backend->lock);
  if (i == TOY_MAX_VMS) return fail(error, HAL_NOT_FOUND, "no VM '%s'", vm_id);
  return *out_vm != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

static void toy_vm_release(hal_vm *vm) {
  if (vm == NULL) return;
  pthread_mutex_lock(&vm->backend->lock);
  vm->backend->open_handles--;
  pthread_mutex_unlock(&vm->backend->lock);
  free(vm);
}

static hal_status toy_vm_list(hal_backend *backend, uint32_t flags, char **out_json,
                              hal_error *error) {
  char buffer[TOY_MAX_VMS * (TOY_NAME_SIZE + 40) + 16];
  size_t used;
  int i, first = 1;
  if (backend == NULL || out_json == NULL)
    return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  used = (size_t)snprintf(buffer, sizeof buffer, "{\"vms\":[");
  pthread_mutex_lock(&backend->lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    if (!backend->vms[i].in_use) continue;
    used += (size_t)snprintf(buffer + used, sizeof buffer - used,
                             "%s{\"id\":\"%s\",\"state\":\"%s\"}", first ? "" : ",",
                             backend->vms[i].name, hal_vm_state_name(backend->vms[i].state));
    first = 0;
  }
  pthread_mutex_unlock(&backend->lock);
  snprintf(buffer + used, sizeof buffer - used, "]}");
  *out_json = dup_string(buffer);
  return *out_json != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

/* Moves a VM from one of `allowed` states (bit mask) to `target`; same state is a no-op. */
static hal_status transition(hal_vm *vm, uint32_t flags, uint32_t allowed_flags, unsigned allowed,
                             hal_vm_state target, const char *operation, hal_error *error) {
  toy_vm_record *record;
  hal_vm_state from;
  char name[TOY_NAME_SIZE];
  if (vm == NULL) return fail(error, HAL_INVALID_ARGUMENT, "vm is NULL");
  if (flags & ~allowed_flags)
    return fail(error, HAL_INVALID_ARGUMENT, "%s: unknown flags 0x%x", operation, flags);
  pthread_mutex_lock(&vm->backend->lock);
  record = record_of(vm);
  if (record == NULL) {
    pthread_mutex_unlock(&vm->backend->lock);
    return fail(error, HAL_NOT_FOUND, "VM was deleted");
  }
  from = record->state;
  if (from == target) {
    pthread_mutex_unlock(&vm->backend->lock);
    return HAL_OK;
  }
  if (!(allowed & (1u << from))) {
    pthread_mutex_unlock(&vm->backend->lock);
    return fail(error, HAL_FAILED_PRECONDITION, "%s: VM '%s' is %s", operation, record->name,
                hal_vm_state_name(from));
  }
  record->state = target;
  strcpy(name, record->name);
  pthread_mutex_unlock(&vm->backend->lock);
  emit_state(vm->backend, name, target);
  return HAL_OK;
}

#define BIT(state) (1u << (state))

static hal_status toy_vm_start(hal_vm *vm, uint32_t flags, hal_error *error) {
  hal_vm_state target = (flags & HAL_START_PAUSED) ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING;
  return transition(vm, flags, HAL_START_FLAGS_ALL,
                    BIT(HAL_VM_STATE_STOPPED) | BIT(HAL_VM_STATE_CRASHED), target, "start", error);
}

static hal_status toy_vm_force_stop(hal_vm *vm, uint32_t flags, hal_error *error) {
  return transition(vm, flags, 0, 0x1ffu & ~BIT(HAL_VM_STATE_MIGRATED), HAL_VM_STATE_STOPPED,
                    "force_stop", error);
}

static hal_status toy_vm_pause(hal_vm *vm, uint32_t flags, hal_error *error) {
  return transition(vm, flags, 0, BIT(HAL_VM_STATE_RUNNING), HAL_VM_STATE_PAUSED, "pause", error);
}

static hal_status toy_vm_resume(hal_vm *vm, uint32_t flags, hal_error *error) {
  return transition(vm, flags, 0, BIT(HAL_VM_STATE_PAUSED), HAL_VM_STATE_RUNNING, "resume", error);
}

static hal_status toy_vm_delete(hal_vm *vm, uint32_t flags, hal_error *error) {
  toy_vm_record *record;
  if (vm == NULL) return fail(error, HAL_INVALID_ARGUMENT, "vm is NULL");
  if (flags & ~HAL_DELETE_FLAGS_ALL) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags");
  pthread_mutex_lock(&vm->backend->lock);
  record = record_of(vm);
  if (record == NULL) {
    pthread_mutex_unlock(&vm->backend->lock);
    return fail(error, HAL_NOT_FOUND, "VM was deleted");
  }
  if (record->state != HAL_VM_STATE_STOPPED && record->state != HAL_VM_STATE_CRASHED) {
    pthread_mutex_unlock(&vm->backend->lock);
    return fail(error, HAL_FAILED_PRECONDITION, "delete: VM '%s' is %s; stop it first",
                record->name, hal_vm_state_name(record->state));
  }
  record->in_use = 0;
  pthread_mutex_unlock(&vm->backend->lock);
  return HAL_OK;
}

/* Copies a VM's name and state under the lock; NOT_FOUND once it was deleted. */
static hal_status snapshot_record(hal_vm *vm, uint32_t flags, char *name, hal_vm_state *state,
                                  hal_error *error) {
  toy_vm_record *record;
  if (vm == NULL || state == NULL) return fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  pthread_mutex_lock(&vm->backend->lock);
  record = record_of(vm);
  if (record != NULL) {
    *state = record->state;
    strcpy(name, record->name);
  }
  pthread_mutex_unlock(&vm->backend->lock);
  return record != NULL ? HAL_OK : fail(error, HAL_NOT_FOUND, "VM was deleted");
}

static hal_status toy_vm_get_state(hal_vm *vm, uint32_t flags, hal_vm_state *out_state,
                                   hal_error *error) {
  char name[TOY_NAME_SIZE];
  return snapshot_record(vm, flags, name, out_state, error);
}

static hal_status toy_vm_get_info(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error) {
  char name[TOY_NAME_SIZE];
  char buffer[TOY_NAME_SIZE + 64];
  hal_vm_state state;
  hal_status status;
  if (out_json == NULL) return fail(error, HAL_INVALID_ARGUMENT, "out_json is NULL");
  *out_json = NULL;
  status = snapshot_record(vm, flags, name, &state, error);
  if (status != HAL_OK) return status;
  snprintf(buffer, sizeof buffer, "{\"id\":\"%s\",\"state\":\"%s\"}", name,
           hal_vm_state_name(state));
  *out_json = dup_string(buffer);
  return *out_json != NULL ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

/* The table: required entries plus pause/resume; a 1.0 table (no snapshot/hotplug members). */
static const hal_backend_table toy_table = {
    HAL_BACKEND_TABLE_V1_0_SIZE,
    HAL_MAKE_VERSION(1, 0),
    toy_get_identity,
    toy_free_string,
    toy_open,
    toy_close,
    toy_get_capabilities,
    toy_get_host_info,
    toy_vm_create,
    toy_vm_lookup,
    toy_vm_release,
    toy_vm_list,
    toy_vm_start,
    toy_vm_force_stop,
    toy_vm_delete,
    toy_vm_get_state,
    toy_vm_get_info,
    toy_vm_pause,
    toy_vm_resume,
    NULL, /* vm_shutdown */
    NULL, /* vm_reboot */
    NULL, /* vm_reset */
    NULL, /* vm_get_console */
    NULL, /* migration_prepare_incoming */
    NULL, /* migration_send */
    NULL, /* migration_get_progress */
    NULL, /* migration_cancel */
    NULL,
    NULL,
    NULL,
    NULL /* 1.1 members: not part of this plugin's table size */
};

/* The single exported entry: speaks ABI 1.0 to any host of major 1. */
HAL_PLUGIN_EXPORT hal_status hal_plugin_negotiate(uint32_t host_abi_version, uint32_t flags,
                                                  const hal_backend_table **out_table,
                                                  hal_error *error) {
  if (out_table == NULL) return fail(error, HAL_INVALID_ARGUMENT, "out_table is NULL");
  *out_table = NULL;
  if (flags != 0) return fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  if (HAL_VERSION_MAJOR(host_abi_version) != 1)
    return fail(error, HAL_FAILED_PRECONDITION,
                "toyvisor speaks HAL ABI 1.x only, host offered %u.%u",
                HAL_VERSION_MAJOR(host_abi_version), HAL_VERSION_MINOR(host_abi_version));
  *out_table = &toy_table;
  return HAL_OK;
}

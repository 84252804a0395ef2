/*
 * toyvisor.c - a minimal, complete HAL backend in plain C99: what a hypervisor vendor starts
 * from. Its "VMs" are records in memory that follow the HAL state machine; it implements the
 * required entries plus pause/resume and leaves everything else NULL, so the host answers
 * HAL_UNSUPPORTED for those. It passes `hal-conformance --certify` (profiles lifecycle and tdx).
 *
 * It needs no JSON code of its own: hal/sdk.h (the static library HAL::sdk) parses and validates
 * VM specs with the host's own validator and builds the documents it answers (capabilities,
 * host info, VM info), checked against the HAL schemas.
 *
 * Build it out of tree against an installed SDK (see CMakeLists.txt):
 *   cmake -S examples/vendor-backend -B build-toy -DCMAKE_PREFIX_PATH=/opt/hal
 *   cmake --build build-toy
 *   /opt/hal/bin/hal-conformance --plugin build-toy/libhal-toyvisor.so --certify
 */
#include <hal/hal.h>
#include <hal/names.h>
#include <hal/sdk.h>
#include <hal/table_entries.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOY_MAX_VMS 64
#define TOY_MAX_INSTANCES 8
#define TOY_NAME_SIZE 64 /* the spec schema caps names at 63 characters */

/* One VM record. */
typedef struct toy_vm_record {
  int in_use;
  char name[TOY_NAME_SIZE];
  hal_vm_state state;
  unsigned generation; /* bumped on every create, so a stale handle never sees a new VM */
  char *spec_json;     /* the effective spec (hal_sdk_spec_effective_json), for vm_get_info */
} toy_vm_record;

/*
 * The VMs of one instance (the config's "instance", default ""). They outlive close(): a backend
 * reopened with the same config re-adopts them, as a real backend re-adopts the VMs its
 * hypervisor still runs. One lock guards every store and record.
 */
typedef struct toy_store {
  int in_use;
  char instance[TOY_NAME_SIZE];
  toy_vm_record vms[TOY_MAX_VMS];
} toy_store;

static pthread_mutex_t toy_lock = PTHREAD_MUTEX_INITIALIZER;
static toy_store toy_stores[TOY_MAX_INSTANCES];

/* A backend instance: its store, its event callback and its count of open VM handles. */
struct hal_backend {
  toy_store *store;
  hal_event_fn on_event;
  void *user_data;
  int open_handles;
};

/* A VM handle: its record and which VM occupied the record when the handle was made. */
struct hal_vm {
  hal_backend *backend;
  int index;
  unsigned generation;
};

/* The table is defined at the end; get_capabilities derives its "operations" from it. */
static const hal_backend_table toy_table;

/* The record a handle refers to, or NULL once that VM was deleted. Call with the lock held. */
static toy_vm_record *record_of(const hal_vm *vm) {
  toy_vm_record *record = &vm->backend->store->vms[vm->index];
  return record->in_use && record->generation == vm->generation ? record : NULL;
}

/* Sends an event; called without the lock held, as hal.h asks. */
static void emit(hal_backend *backend, hal_event_type type, const char *name, hal_vm_state state) {
  hal_event event;
  struct timespec now;
  if (backend->on_event == NULL) return;
  clock_gettime(CLOCK_REALTIME, &now);
  memset(&event, 0, sizeof event);
  event.struct_size = sizeof event;
  event.type = type;
  event.vm_id = name;
  event.state = state;
  event.timestamp_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
  backend->on_event(backend->user_data, &event);
}

static hal_status toy_get_identity(uint32_t flags, char **out_json, hal_error *error) {
  hal_sdk_doc *identity;
  if (out_json == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "out_json is NULL");
  *out_json = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  identity = hal_sdk_doc_new();
  hal_sdk_doc_set_string(identity, "/name", "toyvisor");
  hal_sdk_doc_set_string(identity, "/vendor", "HAL examples");
  hal_sdk_doc_set_string(identity, "/version", "1.1.0");
  hal_sdk_doc_set_string(identity, "/description", "minimal C backend (example)");
  hal_sdk_doc_set_string(identity, "/hypervisor", "toyvisor");
  return hal_sdk_doc_emit(identity, HAL_SDK_SCHEMA_NONE, out_json, error);
}

/* Every string this plugin returns comes from the SDK, so the SDK frees it. */
static void toy_free_string(char *string) {
  hal_sdk_string_free(string);
}

/* The store of `instance`, made on first use; NULL when every slot is taken. Lock held. */
static toy_store *store_for(const char *instance) {
  int i, free_slot = -1;
  for (i = 0; i < TOY_MAX_INSTANCES; i++) {
    if (toy_stores[i].in_use && strcmp(toy_stores[i].instance, instance) == 0)
      return &toy_stores[i];
    if (!toy_stores[i].in_use && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) return NULL;
  toy_stores[free_slot].in_use = 1;
  strcpy(toy_stores[free_slot].instance, instance);
  return &toy_stores[free_slot];
}

static hal_status toy_open(const char *config_json, hal_event_fn on_event, void *user_data,
                           uint32_t flags, hal_backend **out_backend, hal_error *error) {
  hal_sdk_doc *config = NULL;
  const char *instance = "";
  hal_backend *backend;
  hal_status status;
  if (out_backend == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "out_backend is NULL");
  *out_backend = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  /* The configuration: an object with an optional "instance" string (NULL means {}). */
  status = hal_sdk_doc_parse(config_json != NULL ? config_json : "{}", &config, error);
  if (status != HAL_OK) return status;
  status = hal_sdk_doc_get_string(config, "/instance", &instance);
  if (status == HAL_INVALID_ARGUMENT || strlen(instance) >= TOY_NAME_SIZE) {
    hal_sdk_doc_free(config);
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT,
                        "config.instance: must be a string of at most %d characters",
                        TOY_NAME_SIZE - 1);
  }
  backend = calloc(1, sizeof *backend);
  if (backend != NULL) {
    pthread_mutex_lock(&toy_lock);
    backend->store = store_for(instance);
    pthread_mutex_unlock(&toy_lock);
  }
  hal_sdk_doc_free(config); /* `instance` pointed into it */
  if (backend == NULL || backend->store == NULL) {
    free(backend);
    return hal_sdk_fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory or instances");
  }
  backend->on_event = on_event;
  backend->user_data = user_data;
  *out_backend = backend;
  return HAL_OK;
}

static hal_status toy_close(hal_backend *backend, uint32_t flags, hal_error *error) {
  char stopped[TOY_MAX_VMS][TOY_NAME_SIZE];
  int i, count = 0;
  if (backend == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "backend is NULL");
  if (flags & ~HAL_CLOSE_FLAGS_ALL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  if ((flags & HAL_CLOSE_KEEP_VMS) && (flags & HAL_CLOSE_STOP_VMS))
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "KEEP_VMS and STOP_VMS exclude each other");
  pthread_mutex_lock(&toy_lock);
  if (backend->open_handles > 0) {
    pthread_mutex_unlock(&toy_lock);
    return hal_sdk_fail(error, HAL_FAILED_PRECONDITION, "%d VM handles still open",
                        backend->open_handles);
  }
  for (i = 0; i < TOY_MAX_VMS && (flags & HAL_CLOSE_STOP_VMS); i++) {
    toy_vm_record *record = &backend->store->vms[i];
    if (!record->in_use || record->state == HAL_VM_STATE_STOPPED ||
        record->state == HAL_VM_STATE_CRASHED)
      continue;
    record->state = HAL_VM_STATE_STOPPED;
    strcpy(stopped[count++], record->name);
  }
  pthread_mutex_unlock(&toy_lock);
  for (i = 0; i < count; i++)
    emit(backend, HAL_EVENT_STATE_CHANGED, stopped[i], HAL_VM_STATE_STOPPED);
  free(backend);
  return HAL_OK;
}

static hal_status toy_get_capabilities(hal_backend *backend, uint32_t flags, char **out_json,
                                       hal_error *error) {
  hal_sdk_doc *caps;
  if (backend == NULL || out_json == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  caps = hal_sdk_doc_new();
  hal_sdk_doc_set_string(caps, "/abiVersion", "1.0"); /* the only version toyvisor negotiates */
  hal_sdk_doc_set_string(caps, "/hypervisor", "toyvisor");
  hal_sdk_doc_set_string(caps, "/accelerator", "none");
  /* "operations" names every table entry, true exactly when the table has it (LC-003). */
#define TOY_DECLARE(member, required, since_minor) \
  hal_sdk_doc_set_bool(caps, "/operations/" #member, toy_table.member != NULL);
  HAL_TABLE_ENTRIES(TOY_DECLARE)
#undef TOY_DECLARE
  hal_sdk_doc_set_bool(caps, "/features/liveMigration", 0);
  hal_sdk_doc_set_bool(caps, "/features/numa", 0);
  hal_sdk_doc_set_bool(caps, "/features/vcpuPinning", 0);
  hal_sdk_doc_set_bool(caps, "/features/tdx", 0);
  hal_sdk_doc_set_bool(caps, "/features/console", 0);
  hal_sdk_doc_set_int64(caps, "/limits/maxVms", TOY_MAX_VMS);
  return hal_sdk_doc_emit(caps, HAL_SDK_SCHEMA_CAPABILITIES, out_json, error);
}

static hal_status toy_get_host_info(hal_backend *backend, uint32_t flags, char **out_json,
                                    hal_error *error) {
  hal_sdk_doc *info;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES);
  uint64_t memory = (uint64_t)(pages > 0 ? pages : 0) * (uint64_t)sysconf(_SC_PAGESIZE);
  long cpu;
  if (backend == NULL || out_json == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  if (cpus < 1) cpus = 1;
  /* One NUMA node holding every CPU and all memory; sizes are integer bytes. */
  info = hal_sdk_doc_new();
  hal_sdk_doc_set_int64(info, "/cpus", cpus);
  hal_sdk_doc_set_uint64(info, "/memory", memory);
  hal_sdk_doc_set_int64(info, "/numaNodes/0/id", 0);
  hal_sdk_doc_set_json(info, "/numaNodes/0/cpus", "[]");
  for (cpu = 0; cpu < cpus; cpu++) hal_sdk_doc_set_int64(info, "/numaNodes/0/cpus/-", cpu);
  hal_sdk_doc_set_uint64(info, "/numaNodes/0/memory", memory);
  hal_sdk_doc_set_json(info, "/pciDevices", "[]");
  hal_sdk_doc_set_bool(info, "/tdx/supported", 0);
  hal_sdk_doc_set_string(info, "/tdx/reason", "toyvisor does not implement TDX");
  hal_sdk_doc_set_string(info, "/accelerator", "none");
  return hal_sdk_doc_emit(info, HAL_SDK_SCHEMA_HOST_INFO, out_json, error);
}

/* A new handle on record `index` of the backend's store. Lock held. */
static hal_vm *new_handle(hal_backend *backend, int index) {
  hal_vm *vm = malloc(sizeof *vm);
  if (vm == NULL) return NULL;
  vm->backend = backend;
  vm->index = index;
  vm->generation = backend->store->vms[index].generation;
  backend->open_handles++;
  return vm;
}

static hal_status toy_vm_create(hal_backend *backend, const char *spec_json, uint32_t flags,
                                hal_vm **out_vm, hal_error *error) {
  hal_sdk_spec *spec = NULL;
  const char *security = NULL;
  char name[TOY_NAME_SIZE];
  char *effective;
  toy_vm_record *record;
  hal_status status;
  int i, free_slot = -1;
  if (backend == NULL || spec_json == NULL || out_vm == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_vm = NULL;
  if (flags & ~HAL_CREATE_FLAGS_ALL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  if ((flags & HAL_CREATE_VALIDATE_ONLY) && (flags & HAL_CREATE_START))
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "VALIDATE_ONLY and START exclude each other");
  /* The SDK validates exactly as the host does; its message names the field at fault. */
  status = hal_sdk_spec_parse(spec_json, &spec, error);
  if (status != HAL_OK) return status;
  if (hal_sdk_doc_get_string(hal_sdk_spec_doc(spec), "/launchSecurity/type", &security) == HAL_OK &&
      strcmp(security, "tdx") == 0) {
    hal_sdk_spec_free(spec);
    return hal_sdk_fail(error, HAL_UNSUPPORTED,
                        "launchSecurity.type tdx: toyvisor does not implement TDX");
  }
  snprintf(name, sizeof name, "%s", hal_sdk_spec_name(spec));
  effective = hal_sdk_spec_effective_json(spec);
  hal_sdk_spec_free(spec);
  if (effective == NULL) return hal_sdk_fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");

  pthread_mutex_lock(&toy_lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    record = &backend->store->vms[i];
    if (record->in_use && strcmp(record->name, name) == 0) {
      pthread_mutex_unlock(&toy_lock);
      hal_sdk_string_free(effective);
      return hal_sdk_fail(error, HAL_ALREADY_EXISTS, "VM '%s' already exists", name);
    }
    if (!record->in_use && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0 || (flags & HAL_CREATE_VALIDATE_ONLY)) {
    pthread_mutex_unlock(&toy_lock);
    hal_sdk_string_free(effective);
    if (free_slot < 0)
      return hal_sdk_fail(error, HAL_RESOURCE_EXHAUSTED, "toyvisor holds at most %d VMs",
                          TOY_MAX_VMS);
    return HAL_OK; /* valid, and there is room: nothing is defined */
  }
  record = &backend->store->vms[free_slot];
  *out_vm = new_handle(backend, free_slot);
  if (*out_vm == NULL) {
    pthread_mutex_unlock(&toy_lock);
    hal_sdk_string_free(effective);
    return hal_sdk_fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
  }
  record->in_use = 1;
  record->generation++;
  (*out_vm)->generation = record->generation;
  record->state = (flags & HAL_CREATE_START) ? HAL_VM_STATE_RUNNING : HAL_VM_STATE_STOPPED;
  record->spec_json = effective;
  strcpy(record->name, name);
  pthread_mutex_unlock(&toy_lock);
  /* A new VM is STOPPED without a state change; one created with START reports RUNNING. */
  if (flags & HAL_CREATE_START) emit(backend, HAL_EVENT_STATE_CHANGED, name, HAL_VM_STATE_RUNNING);
  return HAL_OK;
}

static hal_status toy_vm_lookup(hal_backend *backend, const char *vm_id, uint32_t flags,
                                hal_vm **out_vm, hal_error *error) {
  int i;
  if (backend == NULL || vm_id == NULL || out_vm == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_vm = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  pthread_mutex_lock(&toy_lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    toy_vm_record *record = &backend->store->vms[i];
    if (record->in_use && strcmp(record->name, vm_id) == 0) {
      *out_vm = new_handle(backend, i);
      break;
    }
  }
  pthread_mutex_unlock(&toy_lock);
  if (i == TOY_MAX_VMS) return hal_sdk_fail(error, HAL_NOT_FOUND, "no VM '%s'", vm_id);
  return *out_vm != NULL ? HAL_OK : hal_sdk_fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

static void toy_vm_release(hal_vm *vm) {
  if (vm == NULL) return;
  pthread_mutex_lock(&toy_lock);
  vm->backend->open_handles--;
  pthread_mutex_unlock(&toy_lock);
  free(vm);
}

static hal_status toy_vm_list(hal_backend *backend, uint32_t flags, char **out_json,
                              hal_error *error) {
  hal_sdk_doc *list;
  char pointer[32];
  int i, count = 0;
  if (backend == NULL || out_json == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  list = hal_sdk_doc_new();
  hal_sdk_doc_set_json(list, "/vms", "[]");
  pthread_mutex_lock(&toy_lock);
  for (i = 0; i < TOY_MAX_VMS; i++) {
    const toy_vm_record *record = &backend->store->vms[i];
    if (!record->in_use) continue;
    snprintf(pointer, sizeof pointer, "/vms/%d/id", count);
    hal_sdk_doc_set_string(list, pointer, record->name);
    snprintf(pointer, sizeof pointer, "/vms/%d/state", count++);
    hal_sdk_doc_set_string(list, pointer, hal_vm_state_name(record->state));
  }
  pthread_mutex_unlock(&toy_lock);
  return hal_sdk_doc_emit(list, HAL_SDK_SCHEMA_NONE, out_json, error);
}

/* Moves a VM from one of `allowed` states (bit mask) to `target`; same state is a no-op. */
static hal_status transition(hal_vm *vm, uint32_t flags, uint32_t allowed_flags, unsigned allowed,
                             hal_vm_state target, const char *operation, hal_error *error) {
  toy_vm_record *record;
  hal_vm_state from;
  char name[TOY_NAME_SIZE];
  if (vm == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "vm is NULL");
  if (flags & ~allowed_flags)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "%s: unknown flags 0x%x", operation, flags);
  pthread_mutex_lock(&toy_lock);
  record = record_of(vm);
  if (record == NULL) {
    pthread_mutex_unlock(&toy_lock);
    return hal_sdk_fail(error, HAL_NOT_FOUND, "%s: the VM was deleted", operation);
  }
  from = record->state;
  if (from == target) {
    pthread_mutex_unlock(&toy_lock);
    return HAL_OK;
  }
  if (!(allowed & (1u << from))) {
    pthread_mutex_unlock(&toy_lock);
    return hal_sdk_fail(error, HAL_FAILED_PRECONDITION, "%s: VM '%s' is %s", operation,
                        record->name, hal_vm_state_name(from));
  }
  record->state = target;
  strcpy(name, record->name);
  pthread_mutex_unlock(&toy_lock);
  emit(vm->backend, HAL_EVENT_STATE_CHANGED, name, target);
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
  char name[TOY_NAME_SIZE];
  char *spec_json;
  hal_vm_state last_state;
  if (vm == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "vm is NULL");
  if (flags & ~HAL_DELETE_FLAGS_ALL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  pthread_mutex_lock(&toy_lock);
  record = record_of(vm);
  if (record == NULL) {
    pthread_mutex_unlock(&toy_lock);
    return hal_sdk_fail(error, HAL_NOT_FOUND, "delete: the VM was deleted");
  }
  if (record->state != HAL_VM_STATE_STOPPED && record->state != HAL_VM_STATE_CRASHED) {
    pthread_mutex_unlock(&toy_lock);
    return hal_sdk_fail(error, HAL_FAILED_PRECONDITION, "delete: VM '%s' is %s; stop it first",
                        record->name, hal_vm_state_name(record->state));
  }
  record->in_use = 0;
  last_state = record->state;
  spec_json = record->spec_json;
  record->spec_json = NULL;
  strcpy(name, record->name);
  pthread_mutex_unlock(&toy_lock);
  hal_sdk_string_free(spec_json);
  emit(vm->backend, HAL_EVENT_VM_DELETED, name, last_state);
  return HAL_OK;
}

static hal_status toy_vm_get_state(hal_vm *vm, uint32_t flags, hal_vm_state *out_state,
                                   hal_error *error) {
  toy_vm_record *record;
  if (vm == NULL || out_state == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  pthread_mutex_lock(&toy_lock);
  record = record_of(vm);
  if (record != NULL) *out_state = record->state;
  pthread_mutex_unlock(&toy_lock);
  return record != NULL ? HAL_OK : hal_sdk_fail(error, HAL_NOT_FOUND, "the VM was deleted");
}

static hal_status toy_vm_get_info(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error) {
  toy_vm_record *record;
  hal_sdk_doc *info;
  if (vm == NULL || out_json == NULL)
    return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "NULL argument");
  *out_json = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  info = hal_sdk_doc_new();
  pthread_mutex_lock(&toy_lock);
  record = record_of(vm);
  if (record != NULL) {
    hal_sdk_doc_set_string(info, "/id", record->name);
    hal_sdk_doc_set_string(info, "/state", hal_vm_state_name(record->state));
    hal_sdk_doc_set_json(info, "/spec", record->spec_json);
  }
  pthread_mutex_unlock(&toy_lock);
  if (record == NULL) {
    hal_sdk_doc_free(info);
    return hal_sdk_fail(error, HAL_NOT_FOUND, "the VM was deleted");
  }
  return hal_sdk_doc_emit(info, HAL_SDK_SCHEMA_VM_INFO, out_json, error);
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
  if (out_table == NULL) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "out_table is NULL");
  *out_table = NULL;
  if (flags != 0) return hal_sdk_fail(error, HAL_INVALID_ARGUMENT, "unknown flags 0x%x", flags);
  if (HAL_VERSION_MAJOR(host_abi_version) != 1)
    return hal_sdk_fail(error, HAL_FAILED_PRECONDITION,
                        "toyvisor speaks HAL ABI 1.x only, host offered %u.%u",
                        (unsigned)HAL_VERSION_MAJOR(host_abi_version),
                        (unsigned)HAL_VERSION_MINOR(host_abi_version));
  *out_table = &toy_table;
  return HAL_OK;
}

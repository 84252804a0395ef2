/* test_plugin.c - a tiny in-memory HAL test plugin in C. Compile definitions turn it into the
 * deliberately broken variants the loader tests reject:
 *   TEST_OLDER_MINOR    ABI 1.0, struct_size = HAL_BACKEND_TABLE_V1_0_SIZE (1.1 entries abort)
 *   TEST_NEWER_MAJOR    answers ABI 2.0
 *   TEST_NO_ENTRY       exports no hal_plugin_negotiate
 *   TEST_SMALL_TABLE    struct_size 96
 *   TEST_NULL_REQUIRED  vm_start is NULL
 *   TEST_REFUSE         refuses negotiation with a message
 *   TEST_CUSTOM_NEGOTIATE  no negotiate; exports test_plugin_base_table() for a C++ wrapper
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hal/hal.h"
#include "hal/names.h"

#define MAX_VMS 16

typedef struct vm_rec {
  int used;
  char id[64];
  hal_vm_state state;
} vm_rec;

struct hal_backend {
  pthread_mutex_t mu;
  hal_event_fn on_event;
  void *user_data;
  vm_rec vms[MAX_VMS];
};

struct hal_vm {
  hal_backend *b;
  int idx;
};

static void set_error(hal_error *error, const char *msg) {
  if (error != NULL) {
    snprintf(error->message, sizeof(error->message), "%s", msg);
  }
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = (char *)malloc(n);
  if (p != NULL) memcpy(p, s, n);
  return p;
}

/* Called with b->mu held, on purpose: a host that called back into the plugin from the
 * callback would deadlock. */
static void emit_locked(hal_backend *b, int idx, hal_event_type type) {
  hal_event ev;
  struct timespec ts;
  if (b->on_event == NULL) return;
  clock_gettime(CLOCK_REALTIME, &ts);
  memset(&ev, 0, sizeof(ev));
  ev.struct_size = sizeof(ev);
  ev.type = type;
  ev.vm_id = b->vms[idx].id;
  ev.state = b->vms[idx].state;
  ev.timestamp_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  ev.detail_json = "{\"reason\":\"test\"}";
  b->on_event(b->user_data, &ev);
}

static hal_status get_identity(uint32_t flags, char **out_json, hal_error *error) {
  if (out_json == NULL || flags != 0) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  *out_json = dup_string(
      "{\"name\":\"testplug\",\"vendor\":\"HAL tests\",\"version\":\"0.1.0\","
      "\"description\":\"test plugin\",\"hypervisor\":\"none\"}");
  return HAL_OK;
}

static void free_string(char *s) {
  free(s);
}

static hal_status open_backend(const char *config_json, hal_event_fn on_event, void *user_data,
                               uint32_t flags, hal_backend **out_backend, hal_error *error) {
  hal_backend *b;
  (void)config_json;
  if (out_backend == NULL || flags != 0) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  b = (hal_backend *)calloc(1, sizeof(*b));
  if (b == NULL) return HAL_RESOURCE_EXHAUSTED;
  pthread_mutex_init(&b->mu, NULL);
  b->on_event = on_event;
  b->user_data = user_data;
  *out_backend = b;
  return HAL_OK;
}

static hal_status close_backend(hal_backend *b, uint32_t flags, hal_error *error) {
  if (b == NULL || (flags & ~HAL_CLOSE_FLAGS_ALL) != 0) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  pthread_mutex_destroy(&b->mu);
  free(b);
  return HAL_OK;
}

static hal_status get_capabilities(hal_backend *b, uint32_t flags, char **out_json,
                                   hal_error *error) {
  (void)b;
  (void)flags;
  (void)error;
  *out_json = dup_string("{\"operations\":[\"vm_create\"],\"features\":{}}");
  return HAL_OK;
}

static hal_status get_host_info(hal_backend *b, uint32_t flags, char **out_json, hal_error *error) {
  (void)b;
  (void)flags;
  (void)error;
  *out_json = dup_string("{\"cpus\":1,\"numaNodes\":[]}");
  return HAL_OK;
}

static hal_vm *new_handle(hal_backend *b, int idx) {
  hal_vm *vm = (hal_vm *)malloc(sizeof(*vm));
  if (vm != NULL) {
    vm->b = b;
    vm->idx = idx;
  }
  return vm;
}

static int find_locked(hal_backend *b, const char *id) {
  int i;
  for (i = 0; i < MAX_VMS; ++i) {
    if (b->vms[i].used && strcmp(b->vms[i].id, id) == 0) return i;
  }
  return -1;
}

static hal_status vm_create(hal_backend *b, const char *spec_json, uint32_t flags, hal_vm **out_vm,
                            hal_error *error) {
  const char *p;
  char id[64];
  size_t n = 0;
  int i, slot = -1;
  if (b == NULL || spec_json == NULL || out_vm == NULL || (flags & ~HAL_CREATE_FLAGS_ALL)) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  *out_vm = NULL;
  p = strstr(spec_json, "\"name\":\"");
  if (p == NULL) {
    set_error(error, "spec.name: missing");
    return HAL_INVALID_ARGUMENT;
  }
  p += 8;
  while (p[n] != '"' && p[n] != '\0' && n < sizeof(id) - 1) {
    id[n] = p[n];
    ++n;
  }
  id[n] = '\0';
  if (flags & HAL_CREATE_VALIDATE_ONLY) return HAL_OK;
  pthread_mutex_lock(&b->mu);
  if (find_locked(b, id) >= 0) {
    pthread_mutex_unlock(&b->mu);
    set_error(error, "a VM with that name already exists");
    return HAL_ALREADY_EXISTS;
  }
  for (i = 0; i < MAX_VMS; ++i) {
    if (!b->vms[i].used) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    pthread_mutex_unlock(&b->mu);
    set_error(error, "no VM slots left");
    return HAL_RESOURCE_EXHAUSTED;
  }
  b->vms[slot].used = 1;
  memcpy(b->vms[slot].id, id, n + 1);
  b->vms[slot].state = (flags & HAL_CREATE_START) ? HAL_VM_STATE_RUNNING : HAL_VM_STATE_STOPPED;
  emit_locked(b, slot, HAL_EVENT_STATE_CHANGED);
  pthread_mutex_unlock(&b->mu);
  *out_vm = new_handle(b, slot);
  return HAL_OK;
}

static hal_status vm_lookup(hal_backend *b, const char *vm_id, uint32_t flags, hal_vm **out_vm,
                            hal_error *error) {
  int idx;
  if (b == NULL || vm_id == NULL || out_vm == NULL || flags != 0) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  *out_vm = NULL;
  pthread_mutex_lock(&b->mu);
  idx = find_locked(b, vm_id);
  pthread_mutex_unlock(&b->mu);
  if (idx < 0) {
    set_error(error, "no such VM");
    return HAL_NOT_FOUND;
  }
  *out_vm = new_handle(b, idx);
  return HAL_OK;
}

static void vm_release(hal_vm *vm) {
  free(vm);
}

static hal_status vm_list(hal_backend *b, uint32_t flags, char **out_json, hal_error *error) {
  char buf[4096];
  size_t len;
  int i, first = 1;
  (void)flags;
  (void)error;
  len = (size_t)snprintf(buf, sizeof(buf), "{\"vms\":[");
  pthread_mutex_lock(&b->mu);
  for (i = 0; i < MAX_VMS; ++i) {
    if (!b->vms[i].used) continue;
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s{\"id\":\"%s\",\"state\":\"%s\"}",
                            first ? "" : ",", b->vms[i].id, hal_vm_state_name(b->vms[i].state));
    first = 0;
  }
  pthread_mutex_unlock(&b->mu);
  snprintf(buf + len, sizeof(buf) - len, "]}");
  *out_json = dup_string(buf);
  return HAL_OK;
}

/* Moves the VM to `to` if it is in one of the states in `from_mask` (bit per state). */
static hal_status transition(hal_vm *vm, unsigned from_mask, hal_vm_state to, hal_error *error) {
  hal_backend *b = vm->b;
  hal_status st = HAL_OK;
  pthread_mutex_lock(&b->mu);
  if (!b->vms[vm->idx].used) {
    st = HAL_NOT_FOUND;
    set_error(error, "VM was deleted");
  } else if (b->vms[vm->idx].state == to) {
    st = HAL_OK;
  } else if (!(from_mask & (1u << b->vms[vm->idx].state))) {
    st = HAL_FAILED_PRECONDITION;
    set_error(error, "VM is not in a state that allows this");
  } else {
    b->vms[vm->idx].state = to;
    emit_locked(b, vm->idx, HAL_EVENT_STATE_CHANGED);
  }
  pthread_mutex_unlock(&b->mu);
  return st;
}

#define BIT(s) (1u << (s))

#if defined(TEST_NULL_REQUIRED)
__attribute__((unused))
#endif
static hal_status
vm_start(hal_vm *vm, uint32_t flags, hal_error *error) {
  if (vm == NULL || (flags & ~HAL_START_FLAGS_ALL)) {
    set_error(error, "unknown flag");
    return HAL_INVALID_ARGUMENT;
  }
  return transition(vm, BIT(HAL_VM_STATE_STOPPED) | BIT(HAL_VM_STATE_CRASHED),
                    (flags & HAL_START_PAUSED) ? HAL_VM_STATE_PAUSED : HAL_VM_STATE_RUNNING, error);
}

static hal_status vm_force_stop(hal_vm *vm, uint32_t flags, hal_error *error) {
  (void)flags;
  return transition(vm, 0xffffu, HAL_VM_STATE_STOPPED, error);
}

static hal_status vm_delete(hal_vm *vm, uint32_t flags, hal_error *error) {
  hal_backend *b = vm->b;
  hal_status st = HAL_OK;
  (void)flags;
  pthread_mutex_lock(&b->mu);
  if (b->vms[vm->idx].state != HAL_VM_STATE_STOPPED) {
    st = HAL_FAILED_PRECONDITION;
    set_error(error, "still running: stop it first");
  } else {
    b->vms[vm->idx].used = 0;
  }
  pthread_mutex_unlock(&b->mu);
  return st;
}

static hal_status vm_get_state(hal_vm *vm, uint32_t flags, hal_vm_state *out_state,
                               hal_error *error) {
  (void)flags;
  (void)error;
  *out_state = vm->b->vms[vm->idx].state;
  return HAL_OK;
}

static hal_status vm_get_info(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error) {
  char buf[256];
  (void)flags;
  (void)error;
  snprintf(buf, sizeof(buf), "{\"id\":\"%s\",\"state\":\"%s\"}", vm->b->vms[vm->idx].id,
           hal_vm_state_name(vm->b->vms[vm->idx].state));
  *out_json = dup_string(buf);
  return HAL_OK;
}

static hal_status vm_pause(hal_vm *vm, uint32_t flags, hal_error *error) {
  (void)flags;
  return transition(vm, BIT(HAL_VM_STATE_RUNNING), HAL_VM_STATE_PAUSED, error);
}

static hal_status vm_resume(hal_vm *vm, uint32_t flags, hal_error *error) {
  (void)flags;
  return transition(vm, BIT(HAL_VM_STATE_PAUSED), HAL_VM_STATE_RUNNING, error);
}

#if defined(TEST_OLDER_MINOR)
/* A 1.0 host-facing table never exposes these; reaching one is a host bug. */
static hal_status never_snapshot(hal_vm *vm, const char *p, uint32_t f, hal_error *e) {
  (void)vm;
  (void)p;
  (void)f;
  (void)e;
  abort();
}
static hal_status never_restore(hal_backend *b, const char *p, uint32_t f, hal_vm **o,
                                hal_error *e) {
  (void)b;
  (void)p;
  (void)f;
  (void)o;
  (void)e;
  abort();
}
#else
static hal_status vm_snapshot(hal_vm *vm, const char *params_json, uint32_t flags,
                              hal_error *error) {
  (void)params_json;
  (void)flags;
  if (vm->b->vms[vm->idx].state != HAL_VM_STATE_PAUSED) {
    set_error(error, "VM must be PAUSED to snapshot");
    return HAL_FAILED_PRECONDITION;
  }
  return HAL_OK;
}
#endif

static const hal_backend_table kTable = {
#if defined(TEST_OLDER_MINOR)
    HAL_BACKEND_TABLE_V1_0_SIZE,
    HAL_MAKE_VERSION(1, 0),
#elif defined(TEST_SMALL_TABLE)
    96,
    HAL_MAKE_VERSION(1, 0),
#elif defined(TEST_NEWER_MAJOR)
    sizeof(hal_backend_table),
    HAL_MAKE_VERSION(2, 0),
#else
    sizeof(hal_backend_table),
    HAL_ABI_VERSION,
#endif
    get_identity,
    free_string,
    open_backend,
    close_backend,
    get_capabilities,
    get_host_info,
    vm_create,
    vm_lookup,
    vm_release,
    vm_list,
#if defined(TEST_NULL_REQUIRED)
    NULL,
#else
    vm_start,
#endif
    vm_force_stop,
    vm_delete,
    vm_get_state,
    vm_get_info,
    vm_pause,
    vm_resume,
    NULL, /* vm_shutdown */
    NULL, /* vm_reboot */
    NULL, /* vm_reset */
    NULL, /* vm_get_console */
    NULL, /* migration_prepare_incoming */
    NULL, /* migration_send */
    NULL, /* migration_get_progress */
    NULL, /* migration_cancel */
#if defined(TEST_OLDER_MINOR)
    never_snapshot,
    never_restore,
    never_snapshot,
    never_snapshot,
#else
    vm_snapshot,
    NULL, /* vm_restore */
    NULL, /* vm_attach_device */
    NULL, /* vm_detach_device */
#endif
};

#if defined(TEST_CUSTOM_NEGOTIATE)
HAL_PLUGIN_EXPORT const hal_backend_table *test_plugin_base_table(void);
const hal_backend_table *test_plugin_base_table(void) {
  return &kTable;
}
#else

#if defined(TEST_NO_ENTRY)
#define ENTRY_NAME hal_plugin_negotiate_misspelled
#else
#define ENTRY_NAME hal_plugin_negotiate
#endif

HAL_PLUGIN_EXPORT hal_status ENTRY_NAME(uint32_t host_abi_version, uint32_t flags,
                                        const hal_backend_table **out_table, hal_error *error);

hal_status ENTRY_NAME(uint32_t host_abi_version, uint32_t flags,
                      const hal_backend_table **out_table, hal_error *error) {
  if (out_table == NULL || flags != 0) {
    set_error(error, "bad argument");
    return HAL_INVALID_ARGUMENT;
  }
  *out_table = NULL;
#if defined(TEST_REFUSE)
  (void)host_abi_version;
  (void)kTable;
  set_error(error, "testplug speaks HAL ABI 7.x only");
  return HAL_FAILED_PRECONDITION;
#else
  if (HAL_VERSION_MAJOR(host_abi_version) != HAL_ABI_VERSION_MAJOR) {
    set_error(error, "testplug speaks HAL ABI 1.x only");
    return HAL_FAILED_PRECONDITION;
  }
  *out_table = &kTable;
  return HAL_OK;
#endif
}
#endif

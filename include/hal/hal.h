/*
 * hal.h - the HAL plugin ABI: the stable C contract between a host (libhal-core, hal-node,
 * hal-conformance, hal-inspect) and a hypervisor backend shipped as a shared object.
 *
 * Pure C99. Nothing C++ crosses this boundary: no exceptions, no classes, no STL types.
 *
 * ---------------------------------------------------------------------------------------------
 * HOW A PLUGIN IS LOADED
 *   1. The host dlopen()s the plugin and looks up ONE exported symbol, HAL_PLUGIN_ENTRY_SYMBOL
 *      ("hal_plugin_negotiate"), of type hal_negotiate_fn.
 *   2. The host calls it with the highest ABI version it speaks (HAL_ABI_VERSION).
 *   3. The plugin answers with a pointer to its function table whose `abi_version` is the version
 *      it will use: the same major as offered, and a minor no greater than either the offered
 *      minor or its own (a 1.3 plugin answers 1.1 to a 1.1 host). A plugin that cannot speak
 *      the offered major returns HAL_FAILED_PRECONDITION and a message; the host records the
 *      plugin as disabled and carries on.
 *   4. The host checks the table: `struct_size` covers at least the v1.0 table, the major matches,
 *      every REQUIRED entry is non-NULL. It reads only the members `struct_size` covers; a member
 *      beyond it, or a NULL optional member, answers HAL_UNSUPPORTED.
 *
 * VERSIONING RULES
 *   - A minor release only appends members to the end of structs and tables and adds flag bits,
 *     enum values and JSON fields. Offsets of existing members never change (pinned below with
 *     static asserts where the compiler supports them).
 *   - A major release may change anything; hosts reject plugins of another major.
 *
 * CHANGELOG
 *   1.0 (2026-11) First stable ABI: identity, open/close, capabilities, host info, VM lifecycle,
 *                 state and info, listing for re-adoption, console endpoint, live migration
 *                 (prepare incoming, send, progress, cancel), event callback.
 *   1.1 (2026-11) Appended optional vm_snapshot, vm_restore, vm_attach_device and
 *                 vm_detach_device. A 1.0 plugin's table ends before them; hosts answer
 *                 HAL_UNSUPPORTED for those entries.
 *
 * OWNERSHIP
 *   - hal_backend and hal_vm are opaque handles owned by the plugin. A hal_backend lives from
 *     open() to close(); a hal_vm handle lives from vm_create()/vm_lookup()/
 *     migration_prepare_incoming()/vm_restore() until vm_release(). Releasing a handle never
 *     affects the VM itself; vm_delete() removes the VM and the handle must still be released.
 *     All hal_vm handles must be released before close().
 *   - Every `char **out_*` string is allocated by the plugin and freed ONLY by the plugin's
 *     free_string(). On any status other than HAL_OK the plugin sets `*out_*` to NULL.
 *   - Every `const char *` argument and every hal_error buffer belongs to the caller and is valid
 *     only for the duration of the call; the plugin copies what it keeps.
 *
 * THREAD SAFETY
 *   - All entries may be called from any thread.
 *   - Calls on different VMs, and backend-level calls, may run concurrently; the plugin makes
 *     that safe. Calls on one VM are serialised by the host (never two at once on one VM),
 *     except vm_get_state, vm_get_info and migration_get_progress, which may be called at any
 *     time, concurrently with anything but vm_release/close. The host serialises per VM id
 *     within one open backend instance; a plugin whose VMs can be adopted by two instances at
 *     once serialises across them itself.
 *   - get_identity and free_string are callable at any time, even with no backend open.
 *   - The event callback may be invoked on any plugin thread, concurrently with calls. It must
 *     return quickly and must not call back into the plugin: hosts queue the event and act on it
 *     from their own threads. The plugin never invokes it after close() has returned.
 *
 * ERRORS
 *   Every fallible entry returns a hal_status (values mirror gRPC/absl canonical codes, so they
 *   map 1:1 onto the controller's wire) and, when the caller passes a non-NULL hal_error, fills
 *   its `message` with a NUL-terminated, human-readable reason naming the problem. Each entry
 *   below lists the codes it returns and whether the caller should retry. Every entry may also
 *   return HAL_INTERNAL (a plugin bug; do not retry) and HAL_INVALID_ARGUMENT for a NULL
 *   required pointer or an unknown flag bit.
 *
 * FLAGS
 *   Every operation takes a `uint32_t flags`. Bits not defined for that operation are rejected
 *   with HAL_INVALID_ARGUMENT (like libvirt's virCheckFlags), so a bit defined later can never
 *   be silently ignored by an older plugin.
 * ---------------------------------------------------------------------------------------------
 */
#ifndef HAL_HAL_H
#define HAL_HAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------------------------------------
 * Versions and export macro
 * -------------------------------------------------------------------------------------------- */

/** Packs a (major, minor) ABI version into one integer: major in the high 16 bits. */
#define HAL_MAKE_VERSION(major, minor) ((((uint32_t)(major)) << 16) | ((uint32_t)(minor)&0xffffu))
/** Major part of a packed version. */
#define HAL_VERSION_MAJOR(version) (((uint32_t)(version)) >> 16)
/** Minor part of a packed version. */
#define HAL_VERSION_MINOR(version) (((uint32_t)(version)) & 0xffffu)

/** Major ABI version of this header; hosts reject plugins of another major. */
#define HAL_ABI_VERSION_MAJOR 1
/** Minor ABI version of this header; grows when members are appended. */
#define HAL_ABI_VERSION_MINOR 1
/** The ABI version this header describes, packed. */
#define HAL_ABI_VERSION HAL_MAKE_VERSION(HAL_ABI_VERSION_MAJOR, HAL_ABI_VERSION_MINOR)

/** Name of the single symbol every plugin exports. */
#define HAL_PLUGIN_ENTRY_SYMBOL "hal_plugin_negotiate"

/** Marks the plugin's exported entry with default visibility and C linkage. */
#if defined(_WIN32)
#define HAL_PLUGIN_EXPORT __declspec(dllexport)
#else
#define HAL_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* ----------------------------------------------------------------------------------------------
 * Status codes
 * -------------------------------------------------------------------------------------------- */

/** Status returned by every fallible entry. Values equal the gRPC canonical codes. */
typedef int32_t hal_status;

/** Success. */
#define HAL_OK 0
/** The operation was cancelled (e.g. a migration cancelled by migration_cancel). Retry: no. */
#define HAL_CANCELLED 1
/** An error with no better code. Retry: maybe. */
#define HAL_UNKNOWN 2
/** Bad argument: malformed JSON, a spec field out of range, an unknown flag. Retry: no. */
#define HAL_INVALID_ARGUMENT 3
/** A deadline passed before the operation finished (e.g. graceful shutdown). Retry: maybe. */
#define HAL_DEADLINE_EXCEEDED 4
/** The VM (or other named object) does not exist. Retry: no. */
#define HAL_NOT_FOUND 5
/** An object with that name already exists. Retry: no. */
#define HAL_ALREADY_EXISTS 6
/** The plugin lacks a permission it needs on the host (e.g. /dev/kvm). Retry: no. */
#define HAL_PERMISSION_DENIED 7
/** Out of a resource: memory, CPUs, VM slots, ports. Retry: later. */
#define HAL_RESOURCE_EXHAUSTED 8
/** The VM is not in a state that allows the operation. Retry: after the state changes. */
#define HAL_FAILED_PRECONDITION 9
/** A concurrent operation got in the way. Retry: yes. */
#define HAL_ABORTED 10
/** A value is outside the range the backend supports. Retry: no. */
#define HAL_OUT_OF_RANGE 11
/** The backend does not support the operation or feature (gRPC UNIMPLEMENTED). Retry: no. */
#define HAL_UNSUPPORTED 12
/** A bug in the plugin, or a C++ exception caught at the boundary. Retry: no. */
#define HAL_INTERNAL 13
/** The hypervisor process or service is unreachable right now. Retry: yes, with back-off. */
#define HAL_UNAVAILABLE 14
/** Unrecoverable loss of VM data or state. Retry: no. */
#define HAL_DATA_LOSS 15
/** Authentication with the hypervisor failed. Retry: no. */
#define HAL_UNAUTHENTICATED 16

/** Capacity of hal_error.message including its terminating NUL. */
#define HAL_ERROR_MESSAGE_SIZE 512

/** Caller-owned buffer the plugin fills with a reason when it returns a non-OK status. */
typedef struct hal_error {
  /** sizeof(hal_error) as the caller knows it; the plugin writes nothing beyond it. */
  uint32_t struct_size;
  /** Reserved, zero. */
  uint32_t reserved;
  /** NUL-terminated reason naming the problem, truncated to fit. Empty on HAL_OK. */
  char message[HAL_ERROR_MESSAGE_SIZE];
} hal_error;

/* ----------------------------------------------------------------------------------------------
 * Handles, states and events
 * -------------------------------------------------------------------------------------------- */

/** An open instance of a backend (one per open() call). Opaque; owned by the plugin. */
typedef struct hal_backend hal_backend;
/** A handle on one VM of a backend. Opaque; owned by the plugin. */
typedef struct hal_vm hal_vm;

/** VM state. The values are ABI; new states may only be appended. */
typedef uint32_t hal_vm_state;
/** State unknown (e.g. the hypervisor process is unreachable). */
#define HAL_VM_STATE_UNKNOWN 0
/** Defined, not running. Start it with vm_start, remove it with vm_delete. */
#define HAL_VM_STATE_STOPPED 1
/** Being started; becomes RUNNING (or PAUSED with HAL_START_PAUSED) or CRASHED. */
#define HAL_VM_STATE_STARTING 2
/** The guest runs. */
#define HAL_VM_STATE_RUNNING 3
/** vCPUs are paused; memory is kept. */
#define HAL_VM_STATE_PAUSED 4
/** A graceful shutdown was requested; becomes STOPPED. */
#define HAL_VM_STATE_SHUTTING_DOWN 5
/** The guest panicked or the hypervisor process died unexpectedly. */
#define HAL_VM_STATE_CRASHED 6
/** Migration target: waiting for and receiving an incoming migration; becomes RUNNING. */
#define HAL_VM_STATE_INCOMING 7
/** Migration source after a completed migration: the VM now runs elsewhere. */
#define HAL_VM_STATE_MIGRATED 8

/** Event kind. */
typedef uint32_t hal_event_type;
/** The VM's state changed; `state` is the new state, `detail_json` may carry {"reason":...}. */
#define HAL_EVENT_STATE_CHANGED 1
/** Migration progress; `detail_json` is a migration-progress document (see schema). */
#define HAL_EVENT_MIGRATION_PROGRESS 2
/** Migration finished (succeeded, failed or cancelled); `detail_json` is the final progress. */
#define HAL_EVENT_MIGRATION_FINISHED 3
/** The guest crashed (panic, or the hypervisor process exited unexpectedly); detail has why. */
#define HAL_EVENT_GUEST_CRASHED 4
/** The guest rebooted (guest-initiated or via vm_reboot/vm_reset). */
#define HAL_EVENT_GUEST_REBOOTED 5
/** A device was attached or detached; `detail_json` names it. */
#define HAL_EVENT_DEVICE_CHANGED 6
/** The VM was deleted (vm_delete); `state` is its state before, and the VM sends no more
 *  events. Hosts learn of a deletion they did not ask for from it. A host ignores event types it
 *  does not know, and plugins built against an older header never send this one. */
#define HAL_EVENT_VM_DELETED 7

/** One event. Every pointer in it is valid only during the callback. */
typedef struct hal_event {
  /** sizeof(hal_event) as the plugin knows it. Hosts read only what it covers. */
  uint32_t struct_size;
  /** What happened (HAL_EVENT_*). */
  hal_event_type type;
  /** The VM's id (its spec name). Never NULL. */
  const char *vm_id;
  /** The VM's state after the event. */
  hal_vm_state state;
  /** Reserved, zero. */
  uint32_t reserved;
  /** When it happened: CLOCK_REALTIME in nanoseconds since the Unix epoch. */
  uint64_t timestamp_ns;
  /** Details as a JSON object, or NULL. */
  const char *detail_json;
} hal_event;

/** Event callback registered at open(). See THREAD SAFETY for what it may do. */
typedef void (*hal_event_fn)(void *user_data, const hal_event *event);

/* ----------------------------------------------------------------------------------------------
 * Flags (per operation; any other bit is HAL_INVALID_ARGUMENT)
 * -------------------------------------------------------------------------------------------- */

/** vm_create: validate the spec and check placement, but define nothing. */
#define HAL_CREATE_VALIDATE_ONLY (1u << 0)
/** vm_create: start the VM as soon as it is defined. */
#define HAL_CREATE_START (1u << 1)
/** Every flag vm_create accepts. */
#define HAL_CREATE_FLAGS_ALL (HAL_CREATE_VALIDATE_ONLY | HAL_CREATE_START)

/** vm_start: leave the VM PAUSED instead of RUNNING once started. */
#define HAL_START_PAUSED (1u << 0)
/** Every flag vm_start accepts. */
#define HAL_START_FLAGS_ALL (HAL_START_PAUSED)

/** vm_shutdown: do not force-stop when the timeout passes; return HAL_DEADLINE_EXCEEDED. */
#define HAL_SHUTDOWN_NO_FORCE (1u << 0)
/** Every flag vm_shutdown accepts. */
#define HAL_SHUTDOWN_FLAGS_ALL (HAL_SHUTDOWN_NO_FORCE)

/** vm_delete: also remove the disks the backend created for the VM. */
#define HAL_DELETE_STORAGE (1u << 0)
/** Every flag vm_delete accepts. */
#define HAL_DELETE_FLAGS_ALL (HAL_DELETE_STORAGE)

/** close: leave running VMs running so a later open() re-adopts them (the default is the same;
 *  the flag makes the intent explicit). */
#define HAL_CLOSE_KEEP_VMS (1u << 0)
/** close: force-stop every VM this backend instance runs before closing. */
#define HAL_CLOSE_STOP_VMS (1u << 1)
/** Every flag close accepts. */
#define HAL_CLOSE_FLAGS_ALL (HAL_CLOSE_KEEP_VMS | HAL_CLOSE_STOP_VMS)

/** Operations documented "flags: none" accept only 0. */
#define HAL_FLAGS_NONE 0u

/* ----------------------------------------------------------------------------------------------
 * The function table
 * -------------------------------------------------------------------------------------------- */

/**
 * The table a plugin hands the host. It begins with its size and only ever grows at the end.
 * Entries marked REQUIRED must be non-NULL; any other entry may be NULL (= HAL_UNSUPPORTED).
 * All JSON documents follow the schemas in include/hal/schema/.
 */
typedef struct hal_backend_table {
  /** sizeof(hal_backend_table) as the plugin was compiled. */
  uint32_t struct_size;
  /** The ABI version the plugin uses for this host (HAL_MAKE_VERSION). */
  uint32_t abi_version;

  /* ---- ABI 1.0: backend ------------------------------------------------------------------- */

  /**
   * REQUIRED. Identity of the plugin as JSON: {"name","vendor","version","description",
   * "hypervisor"}. Callable without an open backend. Flags: none.
   * Errors: none beyond the common ones.
   */
  hal_status (*get_identity)(uint32_t flags, char **out_json, hal_error *error);

  /**
   * REQUIRED. Frees a string returned by any entry of this plugin. NULL is a no-op.
   */
  void (*free_string)(char *string);

  /**
   * REQUIRED. Opens a backend instance. `config_json` is the backend's own configuration
   * (an object; "{}" or NULL for defaults). `on_event` (may be NULL) receives events of every VM
   * of this instance with `user_data`. Opening re-adopts VMs the backend finds already running
   * (e.g. after the host process restarted). Flags: none.
   * Errors: INVALID_ARGUMENT (bad config; retry: no), UNAVAILABLE (hypervisor unreachable;
   *         retry: yes), PERMISSION_DENIED.
   */
  hal_status (*open)(const char *config_json, hal_event_fn on_event, void *user_data,
                     uint32_t flags, hal_backend **out_backend, hal_error *error);

  /**
   * REQUIRED. Closes a backend instance; no event is delivered after it returns. VMs keep
   * running unless HAL_CLOSE_STOP_VMS; what happens to them meanwhile (e.g. a crash) is
   * reported by the next open() that re-adopts them. Flags: HAL_CLOSE_FLAGS_ALL; KEEP_VMS
   * together with STOP_VMS is INVALID_ARGUMENT and closes nothing (conformance LC-032).
   * Errors: FAILED_PRECONDITION (VM handles still unreleased; the backend stays open).
   */
  hal_status (*close)(hal_backend *backend, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Capabilities as JSON (schema/capabilities.schema.json): the operations the backend
   * implements, features (liveMigration, numa, vcpuPinning, tdx, ...), the accelerator in use,
   * limits. MUST agree with the table and with behaviour; "abiVersion" is the version
   * negotiated with this host, not the plugin's newest (conformance LC-002). Flags: none.
   */
  hal_status (*get_capabilities)(hal_backend *backend, uint32_t flags, char **out_json,
                                 hal_error *error);

  /**
   * REQUIRED. Host facts as JSON (schema/host-info.schema.json): CPUs, NUMA nodes, memory,
   * PCI devices with their NUMA node, TDX support and the reason when absent, accelerator.
   * Flags: none. Errors: UNAVAILABLE (could not read the host; retry: yes).
   */
  hal_status (*get_host_info)(hal_backend *backend, uint32_t flags, char **out_json,
                              hal_error *error);

  /* ---- ABI 1.0: VM definition and lookup -------------------------------------------------- */

  /**
   * REQUIRED. Defines a VM from a JSON spec (schema/vm-spec.schema.json), already validated by
   * the host. The VM starts STOPPED (RUNNING with HAL_CREATE_START). Flags: HAL_CREATE_FLAGS_ALL;
   * VALIDATE_ONLY together with START is INVALID_ARGUMENT and defines nothing (conformance
   * LC-032). With HAL_CREATE_VALIDATE_ONLY, `*out_vm` is NULL on success. With
   * HAL_CREATE_START, a failed start leaves the VM defined (CRASHED) and returns the start's
   * error; vm_lookup finds it to retry or delete.
   * Errors: INVALID_ARGUMENT (spec; message names the field), ALREADY_EXISTS (name taken),
   *         UNSUPPORTED (a feature the backend or host lacks, named, e.g. TDX),
   *         RESOURCE_EXHAUSTED (no room), OUT_OF_RANGE (e.g. more vCPUs than supported).
   */
  hal_status (*vm_create)(hal_backend *backend, const char *spec_json, uint32_t flags,
                          hal_vm **out_vm, hal_error *error);

  /**
   * REQUIRED. Gets a handle on an existing VM by id. Flags: none.
   * Errors: NOT_FOUND.
   */
  hal_status (*vm_lookup)(hal_backend *backend, const char *vm_id, uint32_t flags, hal_vm **out_vm,
                          hal_error *error);

  /** REQUIRED. Releases a VM handle; the VM is unaffected. NULL is a no-op. */
  void (*vm_release)(hal_vm *vm);

  /**
   * REQUIRED. Lists every VM the backend instance knows, including ones re-adopted at open:
   * {"vms":[{"id","state"}...]} with state names as in vm_get_info. Flags: none.
   */
  hal_status (*vm_list)(hal_backend *backend, uint32_t flags, char **out_json, hal_error *error);

  /* ---- ABI 1.0: lifecycle ----------------------------------------------------------------- */

  /**
   * REQUIRED. Starts a STOPPED or CRASHED VM. Returns when the VM is RUNNING (PAUSED with
   * HAL_START_PAUSED). Already RUNNING: HAL_OK, no event. A start that fails leaves the VM
   * CRASHED. Flags: HAL_START_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (STARTING, PAUSED, SHUTTING_DOWN, INCOMING, MIGRATED),
   *         UNAVAILABLE (hypervisor failed to start; message carries its reason; retry: yes),
   *         UNSUPPORTED (feature missing on this host, named), RESOURCE_EXHAUSTED.
   */
  hal_status (*vm_start)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Stops the VM at once (power cut) from any state; it becomes STOPPED. An INCOMING
   * VM stops listening; a CRASHED VM is cleaned up. Already STOPPED, or MIGRATED (it runs
   * elsewhere now): HAL_OK, state unchanged (conformance MG-012). Flags: none.
   * Errors: none beyond the common ones.
   */
  hal_status (*vm_force_stop)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Removes a STOPPED, CRASHED or MIGRATED VM and everything the backend keeps for
   * it. The handle must still be released. Flags: HAL_DELETE_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (still running: stop it first).
   */
  hal_status (*vm_delete)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Current state, cheaply. Flags: none. Errors: NOT_FOUND (deleted meanwhile).
   */
  hal_status (*vm_get_state)(hal_vm *vm, uint32_t flags, hal_vm_state *out_state, hal_error *error);

  /**
   * REQUIRED. VM details as JSON (schema/vm-info.schema.json): id, state, the effective spec,
   * hypervisor pid where there is one, guest NUMA placement, vCPU threads and their affinity.
   * Flags: none. Errors: NOT_FOUND.
   */
  hal_status (*vm_get_info)(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error);

  /**
   * Optional. Pauses a RUNNING VM. Already PAUSED: HAL_OK. Flags: none.
   * Errors: FAILED_PRECONDITION (not RUNNING or PAUSED).
   */
  hal_status (*vm_pause)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Resumes a PAUSED VM. Already RUNNING: HAL_OK. Flags: none.
   * Errors: FAILED_PRECONDITION (not PAUSED or RUNNING).
   */
  hal_status (*vm_resume)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Asks the guest to power off (ACPI) and waits up to `timeout_ms` for STOPPED;
   * then force-stops unless HAL_SHUTDOWN_NO_FORCE. Already STOPPED: HAL_OK. `timeout_ms` 0
   * sends the request and returns at once (the VM is SHUTTING_DOWN until the guest powers off).
   * On DEADLINE_EXCEEDED the VM stays SHUTTING_DOWN; the guest may still power off later, or
   * the host may vm_force_stop it. Flags: HAL_SHUTDOWN_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (not RUNNING/PAUSED/SHUTTING_DOWN),
   *         DEADLINE_EXCEEDED (guest ignored the request and NO_FORCE was given; retry: maybe).
   */
  hal_status (*vm_shutdown)(hal_vm *vm, uint32_t timeout_ms, uint32_t flags, hal_error *error);

  /**
   * Optional. Asks the guest to reboot (ACPI/keyboard controller); the VM stays RUNNING.
   * Flags: none. Errors: FAILED_PRECONDITION (not RUNNING).
   */
  hal_status (*vm_reboot)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Hard-resets a RUNNING or PAUSED VM (like pressing the reset button); a PAUSED VM
   * stays PAUSED. Flags: none. Errors: FAILED_PRECONDITION (not RUNNING or PAUSED).
   */
  hal_status (*vm_reset)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Where to reach the guest's serial console, as JSON:
   * {"type":"unix","path":"/run/.../console.sock"} or {"type":"pty","path":...}.
   * Flags: none. Errors: FAILED_PRECONDITION (no console while STOPPED), UNSUPPORTED.
   */
  hal_status (*vm_get_console)(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error);

  /* ---- ABI 1.0: live migration ------------------------------------------------------------ */

  /**
   * Optional. Target side: defines a VM from `spec_json` in state INCOMING and starts listening
   * for its migration. `params_json` (schema/migration-params.schema.json, may be NULL) may
   * choose the listen address. Answers, in `*out_endpoint_json`, {"uri": "tcp:127.0.0.1:PORT"}
   * to pass to migration_send on the source. Flags: none.
   * Errors: as vm_create, plus UNSUPPORTED (TDX VMs cannot migrate; message says so).
   */
  hal_status (*migration_prepare_incoming)(hal_backend *backend, const char *spec_json,
                                           const char *params_json, uint32_t flags, hal_vm **out_vm,
                                           char **out_endpoint_json, hal_error *error);

  /**
   * Optional. Source side: starts migrating a RUNNING or PAUSED VM to the endpoint in
   * `params_json` ({"uri":..., "maxDowntimeMs", "bandwidthMiBps", "autoConverge", "postCopy",
   * "multifdChannels", "timeoutMs"}) and returns at once. Progress arrives as
   * HAL_EVENT_MIGRATION_PROGRESS events and from migration_get_progress; on success the source
   * becomes MIGRATED and the target RUNNING. Flags: none.
   * Errors: FAILED_PRECONDITION (not running, or a migration already runs),
   *         UNSUPPORTED (TDX guest, or a parameter the backend lacks, named),
   *         INVALID_ARGUMENT (bad parameters).
   */
  hal_status (*migration_send)(hal_vm *vm, const char *params_json, uint32_t flags,
                               hal_error *error);

  /**
   * Optional (REQUIRED when migration_send is present). The current or last migration's
   * progress (schema/migration-progress.schema.json): status (none, setup, active, postcopy,
   * completed, failed, cancelled), bytes transferred/remaining/total, dirty rate, expected and
   * actual downtime. Valid on both source and target. Flags: none.
   */
  hal_status (*migration_get_progress)(hal_vm *vm, uint32_t flags, char **out_json,
                                       hal_error *error);

  /**
   * Optional (REQUIRED when migration_send is present). Cancels a running migration; the source
   * keeps running. Also valid on the target's handle (aborts the incoming side). After a
   * cancelled or failed migration the target VM is STOPPED and the host deletes it.
   * No migration running: FAILED_PRECONDITION. Flags: none.
   */
  hal_status (*migration_cancel)(hal_vm *vm, uint32_t flags, hal_error *error);

  /* ---- ABI 1.1: snapshots and hotplug (optional) ------------------------------------------ */

  /**
   * Optional. Writes a snapshot of a PAUSED VM to {"destination": "dir path"} in `params_json`.
   * Flags: none. Errors: FAILED_PRECONDITION (not PAUSED), UNSUPPORTED.
   */
  hal_status (*vm_snapshot)(hal_vm *vm, const char *params_json, uint32_t flags, hal_error *error);

  /**
   * Optional. Restores a VM from {"source": "dir path"}; it ends PAUSED. The VM keeps the id
   * (spec name) it had when the snapshot was taken; vm_get_info tells it. Flags: none.
   * Errors: NOT_FOUND (no snapshot there), ALREADY_EXISTS, UNSUPPORTED.
   */
  hal_status (*vm_restore)(hal_backend *backend, const char *params_json, uint32_t flags,
                           hal_vm **out_vm, hal_error *error);

  /**
   * Optional. Hot-plugs a device described like a spec entry: {"kind":"disk"|"nic", ...}.
   * Flags: none. Errors: FAILED_PRECONDITION, ALREADY_EXISTS, INVALID_ARGUMENT, UNSUPPORTED.
   */
  hal_status (*vm_attach_device)(hal_vm *vm, const char *device_json, uint32_t flags,
                                 hal_error *error);

  /**
   * Optional. Hot-unplugs the device named `device_name`. Flags: none.
   * Errors: NOT_FOUND, FAILED_PRECONDITION, UNSUPPORTED.
   */
  hal_status (*vm_detach_device)(hal_vm *vm, const char *device_name, uint32_t flags,
                                 hal_error *error);
} hal_backend_table;

/** Size of the v1.0 table: the smallest table a v1 host accepts. */
#define HAL_BACKEND_TABLE_V1_0_SIZE offsetof(hal_backend_table, vm_snapshot)
/** Size of the v1.1 table. */
#define HAL_BACKEND_TABLE_V1_1_SIZE \
  (offsetof(hal_backend_table, vm_detach_device) + sizeof(void (*)(void)))

/**
 * The one exported entry. The host offers the highest ABI version it speaks in
 * `host_abi_version`; the plugin stores a pointer to its (static, immutable) table in
 * `*out_table` with `abi_version` set to the version it will use, or refuses.
 * Flags: none.
 * Errors: FAILED_PRECONDITION (the plugin cannot speak the offered major; message says which
 *         versions it speaks), INVALID_ARGUMENT.
 */
typedef hal_status (*hal_negotiate_fn)(uint32_t host_abi_version, uint32_t flags,
                                       const hal_backend_table **out_table, hal_error *error);

/* Pin the layout: these offsets are ABI and must never change (LP64 and ILP32 alike). */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define HAL_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define HAL_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else
/* C99: a negative array size fails compilation. */
#define HAL_STATIC_ASSERT_CAT2(a, b) a##b
#define HAL_STATIC_ASSERT_CAT(a, b) HAL_STATIC_ASSERT_CAT2(a, b)
#define HAL_STATIC_ASSERT(cond, msg) \
  typedef char HAL_STATIC_ASSERT_CAT(hal_static_assert_, __LINE__)[(cond) ? 1 : -1]
#endif

HAL_STATIC_ASSERT(offsetof(hal_error, message) == 8, "hal_error layout");
HAL_STATIC_ASSERT(offsetof(hal_event, vm_id) == 8, "hal_event layout");
HAL_STATIC_ASSERT(offsetof(hal_event, timestamp_ns) == 16 + sizeof(void *), "hal_event layout");
HAL_STATIC_ASSERT(offsetof(hal_event, detail_json) == 24 + sizeof(void *), "hal_event layout");
HAL_STATIC_ASSERT(offsetof(hal_backend_table, get_identity) == 8, "table header layout");
HAL_STATIC_ASSERT(offsetof(hal_backend_table, vm_snapshot) == 8 + 25 * sizeof(void (*)(void)),
                  "table v1.0 layout: 25 entries after the 8-byte header");
HAL_STATIC_ASSERT(offsetof(hal_backend_table, vm_detach_device) == 8 + 28 * sizeof(void (*)(void)),
                  "table v1.1 layout: 4 entries appended");

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HAL_HAL_H */

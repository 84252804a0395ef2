/*
 * hal.h - the HAL plugin ABI: the stable C contract between a host (libhal-core, hal-node,
 * hal-conformance, hal-inspect) and a hypervisor backend shipped as a shared object.
 *
 * Pure C99. Nothing C++ crosses this boundary: no exceptions, no classes, no STL types.
 *
 * Clause ids in parentheses (LC-029, MG-006, TDX-003, NUMA-005, ...) name the hal-conformance
 * clause that checks a rule (conformance/CLAUSES.md). docs/writing-a-backend.md is the vendor
 * guide to this header. "MUST", "SHOULD" and "MAY" are used as in RFC 2119.
 *
 * ---------------------------------------------------------------------------------------------
 * HOW A PLUGIN IS FOUND
 *   Hosts search the directories of HAL_PLUGIN_PATH (colon-separated), then their defaults, for
 *   manifests NAME.hal.json: {"name": NAME, "library": "libhal-NAME.so", "abi": {"major": 1},
 *   "description": "..."}. "name" equals the file's NAME; "library" is absolute or relative to
 *   the manifest's directory and must exist; "abi.major" is the ABI major the plugin speaks (a
 *   manifest of another major is reported and skipped); "description" is optional. The first
 *   manifest found for a name wins. Tools given a library path (hal-conformance --plugin) need
 *   no manifest.
 *
 * HOW A PLUGIN IS LOADED
 *   1. The host dlopen()s the plugin (RTLD_NOW | RTLD_LOCAL) and looks up ONE exported symbol,
 *      HAL_PLUGIN_ENTRY_SYMBOL ("hal_plugin_negotiate"), of type hal_negotiate_fn. A plugin
 *      exports nothing else.
 *   2. The host calls it with the highest ABI version it speaks (HAL_ABI_VERSION).
 *   3. The plugin answers with a pointer to its function table whose `abi_version` is the version
 *      it will use: the same major as offered, and a minor no greater than either the offered
 *      minor or its own (a 1.3 plugin answers 1.1 to a 1.1 host) (LC-001, LC-034). A plugin that
 *      cannot speak the offered major returns HAL_FAILED_PRECONDITION and a message; the host
 *      records the plugin as disabled and carries on.
 *   4. The host checks the table: `struct_size` covers at least the v1.0 table, the major matches,
 *      every REQUIRED entry is non-NULL. It reads only the members `struct_size` covers; a member
 *      beyond it, or a NULL optional member, answers HAL_UNSUPPORTED.
 *
 * ONE TABLE PER MINOR
 *   A plugin keeps one static, immutable table for each minor it speaks (a 1.1 plugin: a 1.0
 *   table of HAL_BACKEND_TABLE_V1_0_SIZE and a 1.1 table) and answers the one of the version it
 *   uses. Negotiation may run many times in one process (two hosts, each offering its own
 *   version) and never changes an earlier answer. The version a backend instance reports
 *   (get_capabilities' "abiVersion", LC-002) is the `abi_version` of the table whose open() created
 *   it: each table has its own open function, which records its minor in the instance. No entry
 *   tells a plugin the negotiated version; nothing about it is process-wide.
 *
 * INSTANCES AND CONFIGURATION
 *   Each successful open() is an independent backend instance with its own event callback. Its
 *   `config_json` is the backend's own JSON object; these keys have one meaning in every backend
 *   that accepts them:
 *     "instance"  a name; instances of different names share no VM, name or event.
 *     "stateDir"  the directory where the instance keeps its state; different directories are
 *                 different instances.
 *   Instances of different configs MUST be independent: migration runs source and target as two
 *   instances of one plugin in one process (MG-002). hal-conformance derives the target's config
 *   from the source's: "stateDir" suffixed "-target" when the config has one, else "instance"
 *   (default "default") suffixed "-target", so the config {} gets the target
 *   {"instance":"default-target"}. A plugin accepts that derived config, or its certification
 *   passes --target-config. Opening the same config again (e.g. after the host restarted)
 *   re-adopts that instance's VMs (LC-020). A plugin SHOULD refuse unknown keys by name.
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
 *       (2026-11-24) Event type HAL_EVENT_VM_DELETED (7), sent by vm_delete (LC-031, SHOULD).
 *                 Hosts ignore event types they do not know; plugins built against an earlier
 *                 1.1 header never send it, so hosts must not wait for it.
 *       (2026-12) No layout change; rules written down that hosts and hal-conformance already
 *                 applied: one table per minor and the reported version (ONE TABLE PER MINOR),
 *                 instances and the "instance"/"stateDir" keys, event order and close()
 *                 against deliveries (EVENTS), unloading and signals (LOADING, UNLOADING AND
 *                 SIGNALS), the status of each refused placement (vm_create), migration URIs,
 *                 downtimeMs and cancel, the accelerator name, the effective spec, and the
 *                 console through which hal-conformance observes the guest (vm_get_console).
 *       (2027-01) No layout change; JSON fields added: migration-params "tls" (the stream over
 *                 mutual TLS: a directory of PEM files, the target's expected name, the accepted
 *                 source subjects) and features.migrationTls declaring it. A backend without
 *                 it refuses params carrying "tls" (UNSUPPORTED), as it refuses any parameter
 *                 it lacks, so a host never migrates in clear by mistake; hosts pass "tls" only
 *                 to backends declaring the feature.
 *
 * OWNERSHIP
 *   - hal_backend and hal_vm are opaque handles owned by the plugin. A hal_backend lives from
 *     open() to close(); a hal_vm handle lives from vm_create()/vm_lookup()/
 *     migration_prepare_incoming()/vm_restore() until vm_release(). Releasing a handle never
 *     affects the VM itself; vm_delete() removes the VM and the handle must still be released.
 *     All hal_vm handles must be released before close() (LC-028).
 *   - Every `char **out_*` string is allocated by the plugin and freed ONLY by the plugin's
 *     free_string(). On any status other than HAL_OK the plugin sets `*out_*` to NULL.
 *   - Every `const char *` argument and every hal_error buffer belongs to the caller and is valid
 *     only for the duration of the call; the plugin copies what it keeps.
 *
 * THREAD SAFETY
 *   - All entries may be called from any thread.
 *   - Calls on different VMs, and backend-level calls, may run concurrently; the plugin makes
 *     that safe (LC-019: 8 threads drive 3 VMs each through their lifecycle at once). Calls on
 *     one VM are serialised by the host (never two at once on one VM), except vm_get_state,
 *     vm_get_info and migration_get_progress, which may be called at any time, concurrently with
 *     anything but vm_release/close. The host serialises per VM id within one open backend
 *     instance; a plugin whose VMs can be adopted by two instances at once serialises across
 *     them itself.
 *   - get_identity and free_string are callable at any time, even with no backend open.
 *   - The event callback may be invoked on any plugin thread, concurrently with calls. It must
 *     return quickly and must not call back into the plugin: hosts queue the event and act on it
 *     from their own threads. See EVENTS for order and for close().
 *
 * EVENTS
 *   - Order (LC-029): the events of one VM reach the callback one at a time, in the order the
 *     changes happened, with non-decreasing timestamps; the state of the VM's last delivered
 *     STATE_CHANGED is its current state. Events of different VMs may interleave or be delivered
 *     concurrently from different threads.
 *   - STATE_CHANGED is sent for each real change and only then: a call that changes nothing
 *     (start of a RUNNING VM, pause of a PAUSED one, ...) sends none (LC-010). The intermediate
 *     states STARTING and SHUTTING_DOWN MAY be reported.
 *   - vm_create sends no event (the VM is STOPPED; with HAL_CREATE_START, the start's events).
 *     migration_prepare_incoming sends STATE_CHANGED(INCOMING). vm_delete sends VM_DELETED as
 *     the VM's last event (LC-031). A handle's release sends nothing.
 *   - close() synchronises with deliveries: when close() returns, no invocation of that
 *     instance's callback is running and none will start; the host frees `user_data` right
 *     after. A plugin that delivers from its own threads stops or fences them inside close().
 *     Events of VMs that change while no instance is open are not replayed; the next open()
 *     reports the VMs in their current states (vm_list).
 *
 * LOADING, UNLOADING AND SIGNALS
 *   - A host MAY dlclose() the plugin once every instance it opened is closed and every handle
 *     released. When its last close() returns, a plugin therefore has joined every thread it
 *     started and left no callback (timer, atexit, thread-local destructor) pointing into its
 *     code: hal-conformance fails a plugin whose thread outlives close() (LC-005). Hosts never
 *     dlclose() a plugin with an instance open.
 *   - A plugin MUST NOT change the process's signal dispositions and MUST NOT rely on SIGPIPE
 *     being ignored (hal-node ignores it; hal-conformance and other hosts do not): it writes to
 *     sockets with MSG_NOSIGNAL and to pipes with SIGPIPE blocked in the writing thread. It
 *     gives child processes it spawns default dispositions and an empty signal mask.
 *
 * ERRORS
 *   Every fallible entry returns a hal_status (values mirror gRPC/absl canonical codes, so they
 *   map 1:1 onto the controller's wire) and, when the caller passes a non-NULL hal_error, fills
 *   its `message` with a NUL-terminated, human-readable reason naming the problem. Each entry
 *   below lists the codes it returns and whether the caller should retry. Every entry may also
 *   return HAL_INTERNAL (a plugin bug; do not retry) and HAL_INVALID_ARGUMENT for a NULL
 *   required pointer (LC-021) or an unknown flag bit (LC-022); such a call has no effect. A
 *   refused call changes nothing. A plugin never crashes or hangs the host: hal-conformance runs
 *   each clause in its own process and fails a crash, or an entry that does not return within
 *   --call-timeout-seconds, naming the entry.
 *
 * FLAGS
 *   Every operation takes a `uint32_t flags`. Bits not defined for that operation are rejected
 *   with HAL_INVALID_ARGUMENT (like libvirt's virCheckFlags), so a bit defined later can never
 *   be silently ignored by an older plugin (LC-022). Pairs documented as exclusive are rejected
 *   the same way (LC-032).
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
   * "hypervisor"}; name, vendor, version and hypervisor are non-empty strings (LC-001).
   * Callable without an open backend. Flags: none.
   * Errors: none beyond the common ones.
   */
  hal_status (*get_identity)(uint32_t flags, char **out_json, hal_error *error);

  /**
   * REQUIRED. Frees a string returned by any entry of this plugin. NULL is a no-op.
   */
  void (*free_string)(char *string);

  /**
   * REQUIRED. Opens a backend instance (see INSTANCES AND CONFIGURATION). `config_json` is the
   * backend's own configuration (an object; "{}" or NULL for defaults). `on_event` (may be NULL)
   * receives events of every VM of this instance with `user_data` (see EVENTS). Opening
   * re-adopts the VMs of this instance the backend finds, in their current states (e.g. after
   * the host process restarted) (LC-020). Flags: none.
   * Errors: INVALID_ARGUMENT (config malformed or not an object, an unknown or bad key; no
   *         backend is returned; retry: no) (LC-027), UNAVAILABLE (hypervisor unreachable;
   *         retry: yes), PERMISSION_DENIED.
   */
  hal_status (*open)(const char *config_json, hal_event_fn on_event, void *user_data,
                     uint32_t flags, hal_backend **out_backend, hal_error *error);

  /**
   * REQUIRED. Closes a backend instance; when it returns no delivery to its callback runs or
   * will start (EVENTS), and after the last close() no plugin thread runs (LC-005). VMs keep
   * running unless HAL_CLOSE_STOP_VMS; what happens to them meanwhile (e.g. a crash) is
   * reported by the next open() that re-adopts them. Flags: HAL_CLOSE_FLAGS_ALL; KEEP_VMS
   * together with STOP_VMS is INVALID_ARGUMENT and closes nothing (LC-032).
   * Errors: FAILED_PRECONDITION (VM handles still unreleased; the backend stays open and
   *         usable) (LC-028).
   */
  hal_status (*close)(hal_backend *backend, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Capabilities as JSON (schema/capabilities.schema.json): the operations the backend
   * implements, features (liveMigration, numa, vcpuPinning, tdx, console, ...), the accelerator
   * in use, limits. The document is valid against the schema and its "abiVersion" is the
   * version of the table this instance was opened through ("1.0" for a 1.0 host, not the
   * plugin's newest; ONE TABLE PER MINOR) (LC-002). "operations" has one boolean per table entry
   * name: an optional entry is true exactly when the table has it, a required one never false
   * (LC-003); every declared lifecycle operation works (LC-026). features.tdx is true only when
   * host info says TDX is supported (TDX-002). features.liveMigration and features.numa select
   * the migration and numa profiles a certification runs; lifecycle and tdx always run.
   * features.migrationTls declares that both migration calls accept migration-params "tls".
   * features.console declares the guest console (vm_get_console). "accelerator" is the same
   * name as in host info. Flags: none.
   */
  hal_status (*get_capabilities)(hal_backend *backend, uint32_t flags, char **out_json,
                                 hal_error *error);

  /**
   * REQUIRED. Host facts as JSON (schema/host-info.schema.json, LC-004): CPUs, NUMA nodes,
   * memory, PCI devices with their NUMA node, TDX support and the reason when absent (a
   * non-empty reason naming what is missing, TDX-001), accelerator. "accelerator" is a lowercase
   * name: "kvm" when guests run under KVM, "tcg" for QEMU's emulator, "none" for a backend that
   * runs no real guest (a simulator; cloud-hypervisor says "emulated" when it drives its API
   * emulator), or the name of another accelerator. hal-conformance
   * checks "kvm" against this host (usable /dev/kvm, its TDX support and NUMA node count) and
   * "tcg" never to report TDX; any other name is reported as simulated and not compared with
   * the host (TDX-003), which the report shows. Flags: none.
   * Errors: UNAVAILABLE (could not read the host; retry: yes).
   */
  hal_status (*get_host_info)(hal_backend *backend, uint32_t flags, char **out_json,
                              hal_error *error);

  /* ---- ABI 1.0: VM definition and lookup -------------------------------------------------- */

  /**
   * REQUIRED. Defines a VM from a JSON spec (schema/vm-spec.schema.json). Hosts built on
   * libhal-core validate the spec first, but the entry is callable by anyone: malformed JSON, a
   * non-object or a spec missing required fields answers INVALID_ARGUMENT with a message and
   * defines nothing (LC-023). The VM's id is the spec's name. The VM starts STOPPED, with no
   * event (LC-005); with HAL_CREATE_START it is started as by vm_start (LC-025). Flags:
   * HAL_CREATE_FLAGS_ALL; VALIDATE_ONLY together with START is INVALID_ARGUMENT and defines
   * nothing (LC-032). With HAL_CREATE_VALIDATE_ONLY the spec and placement are checked, nothing
   * is defined and `*out_vm` is NULL on success (LC-024). With HAL_CREATE_START, a failed start
   * leaves the VM defined (CRASHED) and returns the start's error; vm_lookup finds it to retry
   * or delete. What the spec asks for is honoured or refused, never dropped silently.
   * Errors (each refusal may come from vm_create or, when only a start can tell, vm_start;
   * the message names the spec field):
   *   INVALID_ARGUMENT   malformed spec; a placement naming what does not exist on this host:
   *                      a host NUMA node, host CPU or host device (NUMA-005, NUMA-006);
   *   ALREADY_EXISTS     the name is taken; the existing VM is untouched (LC-017);
   *   UNSUPPORTED        something the backend or host cannot do: a `machine` type it does not
   *                      have (or any machine, for a backend without machine types), a
   *                      placement shape it cannot express (e.g. interleave), TDX on a host
   *                      without it, naming the missing piece (TDX-004);
   *   OUT_OF_RANGE       a value beyond the backend's limits (e.g. more vCPUs than maxVcpus);
   *   RESOURCE_EXHAUSTED the placement exists but has no room now (memory, CPUs, VM slots).
   */
  hal_status (*vm_create)(hal_backend *backend, const char *spec_json, uint32_t flags,
                          hal_vm **out_vm, hal_error *error);

  /**
   * REQUIRED. Gets a handle on an existing VM by id. Flags: none.
   * Errors: NOT_FOUND, with a message naming the id (LC-018, LC-030).
   */
  hal_status (*vm_lookup)(hal_backend *backend, const char *vm_id, uint32_t flags, hal_vm **out_vm,
                          hal_error *error);

  /** REQUIRED. Releases a VM handle; the VM is unaffected. NULL is a no-op. A handle stays
   *  bound to the VM it was made for, never to its name: once that VM is deleted, every call
   *  through the handle answers NOT_FOUND, also after a new VM takes the name (LC-016, LC-033). */
  void (*vm_release)(hal_vm *vm);

  /**
   * REQUIRED. Lists every VM the backend instance knows, including ones re-adopted at open:
   * {"vms":[{"id","state"}...]} with state names as in vm_get_info (LC-005, LC-020); a deleted
   * VM is not listed (LC-016). Flags: none.
   */
  hal_status (*vm_list)(hal_backend *backend, uint32_t flags, char **out_json, hal_error *error);

  /* ---- ABI 1.0: lifecycle ----------------------------------------------------------------- */

  /**
   * REQUIRED. Starts a STOPPED or CRASHED VM. Returns when the VM is RUNNING, with a
   * STATE_CHANGED(RUNNING) event (LC-006) (PAUSED with HAL_START_PAUSED, LC-008). Already
   * RUNNING: HAL_OK, no event (LC-010). A start that fails leaves the VM CRASHED.
   * Flags: HAL_START_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (STARTING, PAUSED, SHUTTING_DOWN, INCOMING, MIGRATED; nothing
   *         changes, LC-009),
   *         UNAVAILABLE (hypervisor failed to start; message carries its reason; retry: yes),
   *         UNSUPPORTED (feature missing on this host, named), RESOURCE_EXHAUSTED.
   */
  hal_status (*vm_start)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Stops the VM at once (power cut) from any state; it becomes STOPPED, with a
   * STATE_CHANGED event (LC-011). An INCOMING VM stops listening; a CRASHED VM is cleaned up.
   * Already STOPPED (LC-010), or MIGRATED (it runs elsewhere now; MG-012): HAL_OK, state
   * unchanged, no event. Flags: none.
   * Errors: none beyond the common ones.
   */
  hal_status (*vm_force_stop)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Removes a STOPPED, CRASHED or MIGRATED VM and everything the backend keeps for
   * it: it leaves vm_list, vm_lookup answers NOT_FOUND and the name is free (LC-016); a MIGRATED
   * source is deleted while its target keeps running (MG-012). Sends VM_DELETED, the VM's last
   * event, with the state it had (SHOULD, LC-031). The handle must still be released.
   * Flags: HAL_DELETE_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (RUNNING, PAUSED, ...: stop it first; nothing changes, LC-009).
   */
  hal_status (*vm_delete)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * REQUIRED. Current state, cheaply. Flags: none.
   * Errors: NOT_FOUND (deleted meanwhile, LC-016).
   */
  hal_status (*vm_get_state)(hal_vm *vm, uint32_t flags, hal_vm_state *out_state, hal_error *error);

  /**
   * REQUIRED. VM details as JSON (schema/vm-info.schema.json): "id", "state" (LC-005) and:
   *   "spec"          the effective spec: the spec the VM was defined with, with every choice
   *                   the backend made filled in (e.g. the versioned machine type "q35"
   *                   resolved to, defaults it applied); valid against vm-spec.schema.json,
   *                   so a host can give a migration target the same hardware;
   *   "pid"           the hypervisor process, where there is one;
   *   "numaPlacement" per guest node: hostNodes, policy, memory (NUMA-001 without a console,
   *                   NUMA-002, NUMA-007);
   *   "vcpuThreads"   per vCPU: affinity, and tid where there is one (NUMA-003);
   *   "hostDevices"   per host device: its guestNumaNode (NUMA-004);
   *   "guest"         what the backend itself observes of the guest, when it can: bootCount
   *                   (+1 per boot, unchanged by migration), heartbeat and uptimeMs (growing
   *                   while it runs, frozen while PAUSED). hal-conformance uses it only for a
   *                   backend without a console (LC-007, MG-005); see vm_get_console.
   * Flags: none. Errors: NOT_FOUND (LC-016).
   */
  hal_status (*vm_get_info)(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error);

  /**
   * Optional. Pauses a RUNNING VM: its vCPUs and guest clock stop (LC-007); STATE_CHANGED.
   * Already PAUSED: HAL_OK, no event (LC-010). Flags: none.
   * Errors: FAILED_PRECONDITION (not RUNNING or PAUSED; LC-009).
   */
  hal_status (*vm_pause)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Resumes a PAUSED VM; STATE_CHANGED(RUNNING) (LC-007). Already RUNNING: HAL_OK,
   * no event (LC-010). Flags: none.
   * Errors: FAILED_PRECONDITION (not PAUSED or RUNNING; LC-009).
   */
  hal_status (*vm_resume)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Asks the guest to power off (ACPI) and waits up to `timeout_ms` for STOPPED;
   * then force-stops unless HAL_SHUTDOWN_NO_FORCE. Already STOPPED: HAL_OK. `timeout_ms` 0
   * sends the request and returns at once (the VM is SHUTTING_DOWN until the guest powers off).
   * On DEADLINE_EXCEEDED the VM stays SHUTTING_DOWN; the guest may still power off later, or
   * the host may vm_force_stop it. A RUNNING guest that honours ACPI is STOPPED within the
   * timeout, with STATE_CHANGED (LC-012); when the timeout passes the VM is force-stopped and
   * the call answers OK, or with NO_FORCE answers OK or DEADLINE_EXCEEDED and leaves the guest
   * running (LC-013). Already STOPPED: HAL_OK, no event (LC-010). A request the guest receives
   * before its OS listens for ACPI is lost (the suite waits for the guest's "ready" first).
   * Flags: HAL_SHUTDOWN_FLAGS_ALL.
   * Errors: FAILED_PRECONDITION (not RUNNING/PAUSED/SHUTTING_DOWN),
   *         DEADLINE_EXCEEDED (guest ignored the request and NO_FORCE was given; retry: maybe).
   */
  hal_status (*vm_shutdown)(hal_vm *vm, uint32_t timeout_ms, uint32_t flags, hal_error *error);

  /**
   * Optional. Asks the guest to reboot (ACPI/keyboard controller); the VM stays RUNNING and a
   * GUEST_REBOOTED event follows (LC-014). Flags: none.
   * Errors: FAILED_PRECONDITION (not RUNNING; LC-009).
   */
  hal_status (*vm_reboot)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Hard-resets a RUNNING or PAUSED VM (like pressing the reset button), with a
   * GUEST_REBOOTED event; a RUNNING VM stays RUNNING (LC-015), a PAUSED VM stays PAUSED.
   * Flags: none. Errors: FAILED_PRECONDITION (not RUNNING or PAUSED; LC-009).
   */
  hal_status (*vm_reset)(hal_vm *vm, uint32_t flags, hal_error *error);

  /**
   * Optional. Where to reach the guest's serial console, as JSON:
   * {"type":"unix","path":"/run/.../console.sock"} or {"type":"pty","path":...}.
   * GUEST OBSERVATION: hal-conformance observes the guest through this console when the backend
   * declares features.console and answers a "unix" endpoint: it connects as a stream client
   * (possibly several times per VM, one connection at a time), reads the guest's serial output and
   * never writes. The certification guest (scripts/test-guest, docs/writing-a-backend.md) prints
   * "HAL-GUEST: ..." lines there: ready, numa, pci, and every second
   * "HAL-GUEST: heartbeat <n> boot_id=<id>" (MG-005, NUMA-001, NUMA-004, TDX-005). The endpoint
   * SHOULD give each new connection the output of the current boot from its start, then live
   * output: markers printed once at boot are otherwise missed. Without a console, the suite
   * falls back to vm_get_info ("guest", "numaPlacement", "hostDevices"); a clause that requires
   * evidence from the guest itself then reports that it needs a guest instead of passing.
   * Flags: none. Errors: FAILED_PRECONDITION (no console while STOPPED; LC-009), UNSUPPORTED.
   */
  hal_status (*vm_get_console)(hal_vm *vm, uint32_t flags, char **out_json, hal_error *error);

  /* ---- ABI 1.0: live migration ------------------------------------------------------------ */

  /**
   * Optional. Target side: defines a VM from `spec_json` in state INCOMING, with a
   * STATE_CHANGED(INCOMING) event, and starts listening for its migration. `params_json`
   * (schema/migration-params.schema.json, may be NULL) may choose the listen address. Answers,
   * in `*out_endpoint_json`, {"uri": "tcp:HOST:PORT"} (e.g. "tcp:127.0.0.1:PORT") to pass to
   * migration_send on the source; the source's instance of the same plugin MUST accept it.
   * A backend in the migration profile provides all four migration entries and declares
   * features.liveMigration (MG-001). Flags: none.
   * Errors: as vm_create, plus UNSUPPORTED (TDX VMs cannot migrate; message says so; MG-009).
   */
  hal_status (*migration_prepare_incoming)(hal_backend *backend, const char *spec_json,
                                           const char *params_json, uint32_t flags, hal_vm **out_vm,
                                           char **out_endpoint_json, hal_error *error);

  /**
   * Optional. Source side: starts migrating a RUNNING or PAUSED VM to the endpoint in
   * `params_json` ({"uri":..., "maxDowntimeMs", "bandwidthMiBps", "autoConverge", "postCopy",
   * "multifdChannels", "timeoutMs"}) and returns at once. Progress arrives as
   * HAL_EVENT_MIGRATION_PROGRESS events and from migration_get_progress (MG-003); on success the
   * source becomes MIGRATED and the target RUNNING, each with STATE_CHANGED (MG-002), and the
   * guest keeps running: same boot, its clock and heartbeat continue, no GUEST_REBOOTED on the
   * target (MG-005). A migration failing on the target side (nothing listens at the URI) ends
   * as an error here or as a "failed" migration, and the source keeps RUNNING the same guest
   * (MG-008). URIs: a backend MUST accept "tcp:ADDRESS:PORT" with an IPv4 address (what
   * migration_prepare_incoming answers), SHOULD accept "[IPv6]" and host names, and MAY accept
   * "unix:PATH" and the other schemes of the schema; a scheme it does not speak is UNSUPPORTED
   * naming the scheme. MIGRATION TLS: with "tls" in `params_json` (on both sides; only a
   * backend declaring features.migrationTls) the stream is carried over TLS: the source presents
   * client-cert.pem, the target server-cert.pem, each verifies the other against ca-cert.pem,
   * the source checks the target's name ("hostname", else the uri's host) and the target the
   * source's subject ("peerSubjects"); a peer failing that fails the migration (MG-008 holds).
   * A backend without the feature MUST answer UNSUPPORTED naming params.tls, on both calls,
   * and never fall back to clear text. Flags: none.
   * Errors: FAILED_PRECONDITION (not RUNNING or PAUSED, e.g. STOPPED (MG-010), or a migration
   *         already runs), UNSUPPORTED (TDX guest (MG-009), a URI scheme or a parameter the
   *         backend lacks, named), INVALID_ARGUMENT (bad parameters).
   */
  hal_status (*migration_send)(hal_vm *vm, const char *params_json, uint32_t flags,
                               hal_error *error);

  /**
   * Optional (REQUIRED when migration_send is present). The current or last migration's
   * progress (schema/migration-progress.schema.json, MG-003): status (none, setup, active,
   * postcopy, completed, failed, cancelled), bytes transferred/remaining/total, dirty rate,
   * expected and actual downtime. transferredBytes never decreases, in polls or events
   * (MG-004). Valid on both source and target; the target reports the completed migration too
   * (SHOULD, MG-011). "downtimeMs" is the time the guest did not run: from when the source's
   * vCPUs stopped for the final copy until the target's resumed (or, when the hypervisor
   * measures it, its own figure, e.g. QEMU's "downtime"). The source's completed progress MUST
   * carry it, within the requested maxDowntimeMs (MG-006); the target's SHOULD carry the same.
   * Flags: none.
   */
  hal_status (*migration_get_progress)(hal_vm *vm, uint32_t flags, char **out_json,
                                       hal_error *error);

  /**
   * Optional (REQUIRED when migration_send is present). Cancels a running migration; the source
   * keeps RUNNING the same guest and the target does not run (MG-007). Also valid on the
   * target's handle (aborts the incoming side). The call requests the end; it MAY return
   * before the migration has ended (a backend that waits bounds the wait, at most 30 s). The
   * end is the MIGRATION_FINISHED event and a final status in migration_get_progress, which
   * hosts wait for. Once a cancel is accepted, a migration that does not complete ends
   * "cancelled", also when a transfer error races it. One that completes anyway (the target
   * already runs) ends "completed" with the source MIGRATED; a backend that waited MAY then
   * answer FAILED_PRECONDITION. After a cancelled or failed migration the target VM is STOPPED
   * and the host deletes it. Flags: none.
   * Errors: FAILED_PRECONDITION (no migration running, or it already ended: its final status
   *         stays; MG-010).
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
 * `host_abi_version`; the plugin stores a pointer to its (static, immutable) table of that
 * minor in `*out_table` with `abi_version` set to the version it will use, or refuses (see
 * HOW A PLUGIN IS LOADED and ONE TABLE PER MINOR). An offered 1.0 gets a 1.0 table of at least
 * HAL_BACKEND_TABLE_V1_0_SIZE (LC-034). Flags: none.
 * Errors: FAILED_PRECONDITION (the plugin cannot speak the offered major; message says which
 *         versions it speaks; LC-034), INVALID_ARGUMENT (unknown flags, NULL out_table; LC-034).
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

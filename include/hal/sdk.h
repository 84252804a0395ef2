/*
 * sdk.h - the HAL plugin SDK helper: a small C API a backend written in C links in (the static
 * library HAL::sdk) so it never writes a JSON parser or a JSON-Schema validator itself.
 *
 *   - hal_sdk_spec: a VM spec parsed and validated by the SAME validator the host uses (the schema
 *     include/hal/schema/vm-spec.schema.json and its cross-field rules), with errors that name
 *     the field ("spec.cpu.vcpus: must be >= 1"), and the values a backend needs resolved
 *     (memory quantities as bytes, defaults filled in).
 *   - hal_sdk_doc: a JSON document (an object) to read (a backend's open() configuration,
 *     migration parameters) or to build (capabilities, host info, VM info, migration progress,
 *     VM lists) by JSON pointer (RFC 6901), validated against the HAL schemas and dumped as text
 *     a plugin may hand to the host.
 *   - hal_sdk_fail: fills a caller's hal_error as hal.h asks.
 *
 * Pure C99 (compiles with -std=c99 -pedantic). Every function is thread-safe on distinct
 * objects; one object may be read from several threads at once but written from one only.
 * No function throws, aborts or keeps a pointer to its arguments after it returns.
 *
 * OWNERSHIP
 *   - Every `char *` an SDK function returns is allocated with malloc() and released with
 *     hal_sdk_string_free() (or free()). A plugin may therefore return it from any `char **out_*`
 *     entry of hal.h as long as its free_string() releases strings with hal_sdk_string_free().
 *   - `const char *` results (hal_sdk_spec_name, hal_sdk_doc_get_string) point into the object
 *     they came from and stay valid until that object is freed or, for a document, written.
 *   - hal_sdk_spec and hal_sdk_doc objects are freed with their own _free functions; NULL is a
 *     no-op for every _free function.
 *
 * ERRORS
 *   Functions that can fail return a hal_status (hal.h) and, when `error` is non-NULL, write a
 *   reason into it (honouring error->struct_size, as hal.h's entries do), so a plugin passes the
 *   hal_error it was given straight through:
 *       status = hal_sdk_spec_parse(spec_json, &spec, error);
 *       if (status != HAL_OK) return status;
 *
 * VERSIONING
 *   HAL_SDK_VERSION is the version of this header; hal_sdk_version() that of the library linked.
 *   Minor versions only add functions and enum values.
 *
 * CMake: find_package(HAL 1.1 REQUIRED) then target_link_libraries(plugin PRIVATE HAL::sdk).
 */
#ifndef HAL_SDK_H
#define HAL_SDK_H

#include <stddef.h>
#include <stdint.h>

#include "hal/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Major version of this SDK header; another major is not source-compatible. */
#define HAL_SDK_VERSION_MAJOR 1
/** Minor version of this SDK header; a minor only adds. */
#define HAL_SDK_VERSION_MINOR 0
/** This header's version, encoded like HAL_ABI_VERSION (HAL_VERSION_MAJOR/MINOR decode it). */
#define HAL_SDK_VERSION HAL_MAKE_VERSION(HAL_SDK_VERSION_MAJOR, HAL_SDK_VERSION_MINOR)

/** The version of the SDK library actually linked (HAL_MAKE_VERSION encoding). */
uint32_t hal_sdk_version(void);

/* ---- errors and strings ------------------------------------------------------------------- */

/**
 * Writes a printf-style message into `error` (when non-NULL and large enough per its
 * struct_size; truncated to HAL_ERROR_MESSAGE_SIZE) and returns `status`, so an entry can say
 *     return hal_sdk_fail(error, HAL_NOT_FOUND, "no VM '%s'", vm_id);
 */
hal_status hal_sdk_fail(hal_error *error, hal_status status, const char *format, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** Releases a string returned by any SDK function. NULL is a no-op. */
void hal_sdk_string_free(char *string);

/** Copies a NUL-terminated string with malloc() (release it with hal_sdk_string_free());
 *  NULL when out of memory or when `text` is NULL. */
char *hal_sdk_string_dup(const char *text);

/* ---- VM specs ----------------------------------------------------------------------------- */

/** A parsed, validated VM spec. Opaque; immutable once parsed. */
typedef struct hal_sdk_spec hal_sdk_spec;

/** An owned JSON document whose root is an object. Opaque. */
typedef struct hal_sdk_doc hal_sdk_doc;

/**
 * Parses `json` and validates it as a VM spec with the host's own validator: the schema
 * (vm-spec.schema.json) and then the cross-field rules (topology product, NUMA partition,
 * pinning, boot kernel xor firmware, ...).
 * On HAL_OK, `*out` is a new spec (free it with hal_sdk_spec_free()); otherwise `*out` is NULL.
 * Errors: INVALID_ARGUMENT (NULL `json` or `out`, malformed JSON, not an object, or an invalid
 *         spec; the message names every field at fault, e.g. "spec.cpu.vcpus: must be >= 1"),
 *         RESOURCE_EXHAUSTED (out of memory).
 */
hal_status hal_sdk_spec_parse(const char *json, hal_sdk_spec **out, hal_error *error);

/** Frees a spec. NULL is a no-op. */
void hal_sdk_spec_free(hal_sdk_spec *spec);

/* The accessors below answer NULL or 0 for a NULL spec. */

/** The VM's name ("name"; the VM id in hal.h). Valid while the spec lives. */
const char *hal_sdk_spec_name(const hal_sdk_spec *spec);

/** The number of vCPUs ("cpu.vcpus"). */
uint32_t hal_sdk_spec_vcpus(const hal_sdk_spec *spec);

/** Guest memory in bytes: "memory.size" with its Kubernetes quantity resolved ("1Gi" ->
 *  1073741824). */
uint64_t hal_sdk_spec_memory_bytes(const hal_sdk_spec *spec);

/**
 * The spec as written, read-only, for the typed getters below, e.g.
 *     hal_sdk_doc_get_string(hal_sdk_spec_doc(spec), "/launchSecurity/type", &type)
 * Owned by the spec: never free it; valid while the spec lives.
 */
const hal_sdk_doc *hal_sdk_spec_doc(const hal_sdk_spec *spec);

/**
 * The effective spec as JSON text: every default written out and every quantity in canonical
 * form, as vm-info.schema.json's "spec" wants it (hal_sdk_doc_set_json(info, "/spec", text)).
 * Release with hal_sdk_string_free(); NULL when out of memory.
 */
char *hal_sdk_spec_effective_json(const hal_sdk_spec *spec);

/* ---- JSON documents ----------------------------------------------------------------------- */

/** The HAL schemas a document can be validated against (include/hal/schema/): one of the
 *  HAL_SDK_SCHEMA_* values. An integer, as hal.h's codes are, so any value a caller passes is
 *  well defined (an unknown one is refused). */
typedef uint32_t hal_sdk_schema;

/** No schema: the document is only checked for failed setters (vm_list's answer, identity). */
#define HAL_SDK_SCHEMA_NONE 0u
/** capabilities.schema.json: the answer of get_capabilities. Errors start at "capabilities". */
#define HAL_SDK_SCHEMA_CAPABILITIES 1u
/** host-info.schema.json: the answer of get_host_info. Errors start at "hostInfo". */
#define HAL_SDK_SCHEMA_HOST_INFO 2u
/** vm-info.schema.json: the answer of vm_get_info (its "spec" gets the cross-field rules too).
 *  Errors start at "info". */
#define HAL_SDK_SCHEMA_VM_INFO 3u
/** migration-progress.schema.json: migration_get_progress and migration events. Errors start at
 *  "progress". */
#define HAL_SDK_SCHEMA_MIGRATION_PROGRESS 4u
/** migration-params.schema.json: what migration_send and migration_prepare_incoming receive.
 *  Errors start at "params". */
#define HAL_SDK_SCHEMA_MIGRATION_PARAMS 5u
/** vm-spec.schema.json plus the cross-field rules, as hal_sdk_spec_parse. Errors start at
 *  "spec". */
#define HAL_SDK_SCHEMA_VM_SPEC 6u

/** A new, empty document ({}); NULL when out of memory. Free it with hal_sdk_doc_free(). */
hal_sdk_doc *hal_sdk_doc_new(void);

/**
 * Parses JSON text that must be an object (a configuration, migration parameters, ...).
 * On HAL_OK, `*out` is a new document; otherwise NULL.
 * Errors: INVALID_ARGUMENT (NULL argument, malformed JSON naming the byte offset, nesting deeper
 *         than 64 levels, or not an object), RESOURCE_EXHAUSTED.
 */
hal_status hal_sdk_doc_parse(const char *json, hal_sdk_doc **out, hal_error *error);

/** Frees a document. NULL is a no-op. */
void hal_sdk_doc_free(hal_sdk_doc *doc);

/*
 * Typed getters by JSON pointer (RFC 6901: "" is the root, "/boot/kernel", "/disks/0/path").
 * Each answers HAL_OK and sets `*out` when the value exists with the type asked for,
 * HAL_NOT_FOUND (and leaves `*out` alone) when nothing is at `pointer`, and
 * HAL_INVALID_ARGUMENT for a NULL argument, a malformed pointer or a value of another type.
 */

/** A string; `*out` points into the document (see OWNERSHIP). */
hal_status hal_sdk_doc_get_string(const hal_sdk_doc *doc, const char *pointer, const char **out);

/** An integer that fits in int64_t (a number with a fraction is another type). */
hal_status hal_sdk_doc_get_int64(const hal_sdk_doc *doc, const char *pointer, int64_t *out);

/** A boolean, as 0 or 1. */
hal_status hal_sdk_doc_get_bool(const hal_sdk_doc *doc, const char *pointer, int *out);

/** A byte quantity: a Kubernetes quantity string ("512Mi", "2G", "1073741824") or a
 *  non-negative integer, resolved to bytes. */
hal_status hal_sdk_doc_get_bytes(const hal_sdk_doc *doc, const char *pointer, uint64_t *out);

/** The number of elements of an array or members of an object. */
hal_status hal_sdk_doc_get_size(const hal_sdk_doc *doc, const char *pointer, size_t *out);

/*
 * Setters by JSON pointer. Missing parents are created: an array when the next token is "-" or
 * a decimal index, else an object. In an array, index N replaces element N, the index equal to
 * the array's size or "-" appends. Setting "" (the root) is allowed only with
 * hal_sdk_doc_set_json and an object.
 * Errors: INVALID_ARGUMENT (NULL argument, malformed pointer, a parent that is neither an
 *         object nor an array, an index past the end), RESOURCE_EXHAUSTED.
 * A failed setter also marks the document: hal_sdk_doc_validate and hal_sdk_doc_emit then answer
 * that first error, so a builder may check once at the end instead of after every call.
 */

/** Sets a string (copied). */
hal_status hal_sdk_doc_set_string(hal_sdk_doc *doc, const char *pointer, const char *value);

/** Sets an integer. */
hal_status hal_sdk_doc_set_int64(hal_sdk_doc *doc, const char *pointer, int64_t value);

/** Sets an unsigned integer (byte counts). */
hal_status hal_sdk_doc_set_uint64(hal_sdk_doc *doc, const char *pointer, uint64_t value);

/** Sets a boolean (any non-zero `value` is true). */
hal_status hal_sdk_doc_set_bool(hal_sdk_doc *doc, const char *pointer, int value);

/** Sets null. */
hal_status hal_sdk_doc_set_null(hal_sdk_doc *doc, const char *pointer);

/** Sets a value parsed from JSON text ("[]", "{}", a whole effective spec, ...).
 *  Errors also: INVALID_ARGUMENT for malformed `json`. */
hal_status hal_sdk_doc_set_json(hal_sdk_doc *doc, const char *pointer, const char *json);

/**
 * Validates the document against `schema`; the message names every field at fault
 * ("hostInfo.numaNodes[0].memory: expected integer, got string").
 * Errors: INVALID_ARGUMENT (invalid, an unknown schema, or a document a setter failed on),
 *         RESOURCE_EXHAUSTED.
 */
hal_status hal_sdk_doc_validate(const hal_sdk_doc *doc, hal_sdk_schema schema, hal_error *error);

/** The document as compact JSON text; release with hal_sdk_string_free(). NULL when out of
 *  memory or `doc` is NULL. */
char *hal_sdk_doc_dump(const hal_sdk_doc *doc);

/**
 * What an entry returning a document does last: validates `doc` against `schema`, dumps it
 * into `*out_json` and frees `doc` (always, also on failure; a NULL `doc` reads as out of
 * memory). On failure `*out_json` is NULL, as hal.h requires.
 *     return hal_sdk_doc_emit(doc, HAL_SDK_SCHEMA_HOST_INFO, out_json, error);
 * Errors: INTERNAL (the document breaks its schema: a plugin bug; the message names the field),
 *         RESOURCE_EXHAUSTED, INVALID_ARGUMENT (NULL `out_json`).
 */
hal_status hal_sdk_doc_emit(hal_sdk_doc *doc, hal_sdk_schema schema, char **out_json,
                            hal_error *error);

#ifdef __cplusplus
}
#endif

#endif /* HAL_SDK_H */

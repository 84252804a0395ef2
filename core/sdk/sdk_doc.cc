// sdk_doc.cc - hal_sdk_doc: JSON documents a C plugin reads (its configuration) or builds
// (capabilities, host info, VM info, progress) by JSON pointer, validated against the HAL schemas
// with the host's own validator.
#include <limits>

#include "core/sdk/json_pointer.h"
#include "core/sdk/sdk_internal.h"
#include "core/spec/quantity.h"
#include "core/spec/vm_spec_validation.h"

namespace {

using hal::sdk::fail;
using hal::sdk::guarded;
using nlohmann::json;

// The embedded schema and the error root the host uses for each kind (empty = no schema).
struct SchemaKind {
  const char *name;
  const char *root;
};

bool schema_kind(hal_sdk_schema schema, SchemaKind *out) {
  switch (schema) {
    case HAL_SDK_SCHEMA_NONE:
      *out = {"", ""};
      return true;
    case HAL_SDK_SCHEMA_CAPABILITIES:
      *out = {"capabilities", "capabilities"};
      return true;
    case HAL_SDK_SCHEMA_HOST_INFO:
      *out = {"host-info", "hostInfo"};
      return true;
    case HAL_SDK_SCHEMA_VM_INFO:
      *out = {"vm-info", "info"};
      return true;
    case HAL_SDK_SCHEMA_MIGRATION_PROGRESS:
      *out = {"migration-progress", "progress"};
      return true;
    case HAL_SDK_SCHEMA_MIGRATION_PARAMS:
      *out = {"migration-params", "params"};
      return true;
    case HAL_SDK_SCHEMA_VM_SPEC:
      *out = {"vm-spec", "spec"};
      return true;
  }
  return false;
}

// The value at `pointer` for a getter: HAL_OK with *value set, NOT_FOUND, or INVALID_ARGUMENT.
hal_status lookup(const hal_sdk_doc *doc, const char *pointer, const void *out,
                  const json **value) {
  if (doc == nullptr || pointer == nullptr || out == nullptr) return HAL_INVALID_ARGUMENT;
  auto tokens = hal::sdk::split_pointer(pointer);
  if (!tokens) return HAL_INVALID_ARGUMENT;
  *value = hal::sdk::find_value(doc->value, *tokens);
  return *value != nullptr ? HAL_OK : HAL_NOT_FOUND;
}

// Writes `value` at `pointer`, marking the document on failure (the first failure sticks).
hal_status store(hal_sdk_doc *doc, const char *pointer, json value) {
  if (doc == nullptr) return HAL_INVALID_ARGUMENT;
  auto mark = [&](hal_status status, std::string message) {
    if (doc->failed == HAL_OK) {
      doc->failed = status;
      doc->failure = std::move(message);
    }
    return status;
  };
  if (pointer == nullptr) return mark(HAL_INVALID_ARGUMENT, "a setter got a NULL argument");
  auto tokens = hal::sdk::split_pointer(pointer);
  if (!tokens) {
    return mark(HAL_INVALID_ARGUMENT, std::string("malformed JSON pointer '") + pointer + "'");
  }
  if (tokens->empty()) {
    if (!value.is_object()) return mark(HAL_INVALID_ARGUMENT, "the root must be an object");
    doc->value = std::move(value);
    return HAL_OK;
  }
  std::string error;
  json *slot = hal::sdk::make_slot(doc->value, *tokens, &error);
  if (slot == nullptr) return mark(HAL_INVALID_ARGUMENT, std::string(pointer) + ": " + error);
  *slot = std::move(value);
  return HAL_OK;
}

// Setters map out-of-memory to RESOURCE_EXHAUSTED and mark the document with it.
template <class Make>
hal_status set_value(hal_sdk_doc *doc, const char *pointer, Make &&make) noexcept {
  try {
    return store(doc, pointer, make());
  } catch (const std::bad_alloc &) {
    if (doc != nullptr && doc->failed == HAL_OK) doc->failed = HAL_RESOURCE_EXHAUSTED;
    return HAL_RESOURCE_EXHAUSTED;
  } catch (...) {
    if (doc != nullptr && doc->failed == HAL_OK) doc->failed = HAL_INTERNAL;
    return HAL_INTERNAL;
  }
}

hal_status validate(const hal_sdk_doc *doc, hal_sdk_schema schema, hal_error *error) {
  if (doc == nullptr) return fail(error, HAL_INVALID_ARGUMENT, "document is NULL");
  if (doc->failed != HAL_OK) {
    return fail(error, doc->failed,
                "the document was not built: " +
                    (doc->failure.empty() ? std::string("out of memory") : doc->failure));
  }
  SchemaKind kind;
  if (!schema_kind(schema, &kind)) {
    return fail(error, HAL_INVALID_ARGUMENT, "unknown hal_sdk_schema " + std::to_string(schema));
  }
  if (*kind.name == '\0') return HAL_OK;
  std::vector<hal::FieldError> errors =
      schema == HAL_SDK_SCHEMA_VM_SPEC ? hal::validate_vm_spec(doc->value)
                                       : hal::validate_document(kind.name, doc->value, kind.root);
  if (errors.empty()) return HAL_OK;
  return fail(error, HAL_INVALID_ARGUMENT,
              std::string("invalid ") + kind.name + " document: " + hal::sdk::join_errors(errors));
}

}  // namespace

extern "C" {

hal_sdk_doc *hal_sdk_doc_new(void) {
  return new (std::nothrow) hal_sdk_doc();
}

hal_status hal_sdk_doc_parse(const char *json_text, hal_sdk_doc **out, hal_error *error) {
  if (out != nullptr) *out = nullptr;
  if (json_text == nullptr || out == nullptr) {
    return fail(error, HAL_INVALID_ARGUMENT, "hal_sdk_doc_parse: NULL argument");
  }
  return guarded(error, [&] {
    auto doc = std::make_unique<hal_sdk_doc>();
    std::string message;
    if (!hal::sdk::parse_json(json_text, &doc->value, &message)) {
      return fail(error, HAL_INVALID_ARGUMENT, message);
    }
    if (!doc->value.is_object()) {
      return fail(error, HAL_INVALID_ARGUMENT,
                  std::string("expected a JSON object, got ") + doc->value.type_name());
    }
    *out = doc.release();
    return HAL_OK;
  });
}

void hal_sdk_doc_free(hal_sdk_doc *doc) {
  delete doc;
}

hal_status hal_sdk_doc_get_string(const hal_sdk_doc *doc, const char *pointer, const char **out) {
  const json *value = nullptr;
  hal_status status = lookup(doc, pointer, out, &value);
  if (status != HAL_OK) return status;
  if (!value->is_string()) return HAL_INVALID_ARGUMENT;
  *out = value->get_ref<const std::string &>().c_str();
  return HAL_OK;
}

hal_status hal_sdk_doc_get_int64(const hal_sdk_doc *doc, const char *pointer, int64_t *out) {
  const json *value = nullptr;
  hal_status status = lookup(doc, pointer, out, &value);
  if (status != HAL_OK) return status;
  if (value->is_number_integer() && !value->is_number_unsigned()) {
    *out = value->get<int64_t>();
    return HAL_OK;
  }
  if (value->is_number_unsigned() &&
      value->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<int64_t>(value->get<uint64_t>());
    return HAL_OK;
  }
  return HAL_INVALID_ARGUMENT;
}

hal_status hal_sdk_doc_get_bool(const hal_sdk_doc *doc, const char *pointer, int *out) {
  const json *value = nullptr;
  hal_status status = lookup(doc, pointer, out, &value);
  if (status != HAL_OK) return status;
  if (!value->is_boolean()) return HAL_INVALID_ARGUMENT;
  *out = value->get<bool>() ? 1 : 0;
  return HAL_OK;
}

hal_status hal_sdk_doc_get_bytes(const hal_sdk_doc *doc, const char *pointer, uint64_t *out) {
  const json *value = nullptr;
  hal_status status = lookup(doc, pointer, out, &value);
  if (status != HAL_OK) return status;
  if (value->is_number_unsigned()) {
    *out = value->get<uint64_t>();
    return HAL_OK;
  }
  if (value->is_string()) {
    try {
      if (auto bytes = hal::parse_quantity(value->get_ref<const std::string &>())) {
        *out = *bytes;
        return HAL_OK;
      }
    } catch (...) {
      return HAL_RESOURCE_EXHAUSTED;
    }
  }
  return HAL_INVALID_ARGUMENT;
}

hal_status hal_sdk_doc_get_size(const hal_sdk_doc *doc, const char *pointer, size_t *out) {
  const json *value = nullptr;
  hal_status status = lookup(doc, pointer, out, &value);
  if (status != HAL_OK) return status;
  if (!value->is_array() && !value->is_object()) return HAL_INVALID_ARGUMENT;
  *out = value->size();
  return HAL_OK;
}

hal_status hal_sdk_doc_set_string(hal_sdk_doc *doc, const char *pointer, const char *value) {
  if (value == nullptr) return set_value(doc, nullptr, [] { return json(); });
  return set_value(doc, pointer, [&] { return json(value); });
}

hal_status hal_sdk_doc_set_int64(hal_sdk_doc *doc, const char *pointer, int64_t value) {
  return set_value(doc, pointer, [&] { return json(value); });
}

hal_status hal_sdk_doc_set_uint64(hal_sdk_doc *doc, const char *pointer, uint64_t value) {
  return set_value(doc, pointer, [&] { return json(value); });
}

hal_status hal_sdk_doc_set_bool(hal_sdk_doc *doc, const char *pointer, int value) {
  return set_value(doc, pointer, [&] { return json(value != 0); });
}

hal_status hal_sdk_doc_set_null(hal_sdk_doc *doc, const char *pointer) {
  return set_value(doc, pointer, [] { return json(nullptr); });
}

hal_status hal_sdk_doc_set_json(hal_sdk_doc *doc, const char *pointer, const char *json_text) {
  if (json_text == nullptr) return set_value(doc, nullptr, [] { return json(); });
  json value;
  std::string message;
  bool parsed = false;
  try {
    parsed = hal::sdk::parse_json(json_text, &value, &message);
  } catch (...) {
    return set_value(doc, pointer, []() -> json { throw std::bad_alloc(); });
  }
  if (!parsed) {
    if (doc != nullptr && doc->failed == HAL_OK) {
      doc->failed = HAL_INVALID_ARGUMENT;
      try {
        doc->failure = std::string(pointer != nullptr ? pointer : "(NULL)") + ": " + message;
      } catch (...) {
      }
    }
    return HAL_INVALID_ARGUMENT;
  }
  return set_value(doc, pointer, [&] { return std::move(value); });
}

hal_status hal_sdk_doc_validate(const hal_sdk_doc *doc, hal_sdk_schema schema, hal_error *error) {
  return guarded(error, [&] { return validate(doc, schema, error); });
}

char *hal_sdk_doc_dump(const hal_sdk_doc *doc) {
  if (doc == nullptr) return nullptr;
  try {
    return hal::sdk::malloc_copy(doc->value.dump());
  } catch (...) {
    return nullptr;
  }
}

hal_status hal_sdk_doc_emit(hal_sdk_doc *doc, hal_sdk_schema schema, char **out_json,
                            hal_error *error) {
  std::unique_ptr<hal_sdk_doc> owned(doc);
  if (out_json == nullptr) return fail(error, HAL_INVALID_ARGUMENT, "out_json is NULL");
  *out_json = nullptr;
  if (doc == nullptr) return fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
  hal_status status = hal_sdk_doc_validate(doc, schema, error);
  if (status == HAL_INVALID_ARGUMENT) return HAL_INTERNAL;  // the plugin built a bad document
  if (status != HAL_OK) return status;
  *out_json = hal_sdk_doc_dump(doc);
  return *out_json != nullptr ? HAL_OK : fail(error, HAL_RESOURCE_EXHAUSTED, "out of memory");
}

}  // extern "C"

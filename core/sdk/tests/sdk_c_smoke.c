/* sdk_c_smoke.c - a strict C99 program using every function of hal/sdk.h: the header compiles
 * as C, the archive links with the C driver, and the calls behave. Exits non-zero on a failure. */
#include <stdio.h>
#include <string.h>

#include "hal/sdk.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  hal_error error;
  hal_sdk_spec *spec = NULL;
  hal_sdk_doc *doc = NULL;
  const char *text = NULL;
  int64_t number = 0;
  uint64_t bytes = 0;
  size_t size = 0;
  int flag = 0;
  char *json = NULL;
  char *copy = hal_sdk_string_dup("copy");

  memset(&error, 0, sizeof error);
  error.struct_size = sizeof error;
  CHECK(HAL_VERSION_MAJOR(hal_sdk_version()) == HAL_SDK_VERSION_MAJOR);
  CHECK(copy != NULL && strcmp(copy, "copy") == 0);
  hal_sdk_string_free(copy);

  CHECK(hal_sdk_spec_parse("{\"apiVersion\":\"hal.dev/v1\",\"name\":\"c\",\"cpu\":{\"vcpus\":3},"
                           "\"memory\":{\"size\":\"2Gi\"}}",
                           &spec, &error) == HAL_OK);
  CHECK(spec != NULL && strcmp(hal_sdk_spec_name(spec), "c") == 0);
  CHECK(hal_sdk_spec_vcpus(spec) == 3);
  CHECK(hal_sdk_spec_memory_bytes(spec) == 2147483648u);
  CHECK(hal_sdk_doc_get_bytes(hal_sdk_spec_doc(spec), "/memory/size", &bytes) == HAL_OK);
  CHECK(hal_sdk_doc_get_string(hal_sdk_spec_doc(spec), "/name", &text) == HAL_OK);
  json = hal_sdk_spec_effective_json(spec);
  CHECK(json != NULL && strstr(json, "\"vcpus\":3") != NULL);
  hal_sdk_string_free(json);
  hal_sdk_spec_free(spec);
  CHECK(hal_sdk_spec_parse("{}", &spec, &error) == HAL_INVALID_ARGUMENT && spec == NULL);
  CHECK(strstr(error.message, "spec") != NULL);

  CHECK(hal_sdk_doc_parse("{\"instance\":\"a\",\"n\":2,\"on\":false,\"l\":[]}", &doc, &error) ==
        HAL_OK);
  CHECK(hal_sdk_doc_get_string(doc, "/instance", &text) == HAL_OK && strcmp(text, "a") == 0);
  CHECK(hal_sdk_doc_get_int64(doc, "/n", &number) == HAL_OK && number == 2);
  CHECK(hal_sdk_doc_get_bool(doc, "/on", &flag) == HAL_OK && flag == 0);
  CHECK(hal_sdk_doc_get_size(doc, "/l", &size) == HAL_OK && size == 0);
  hal_sdk_doc_free(doc);

  doc = hal_sdk_doc_new();
  hal_sdk_doc_set_string(doc, "/id", "c");
  hal_sdk_doc_set_string(doc, "/state", "Stopped");
  hal_sdk_doc_set_int64(doc, "/pid", 1);
  hal_sdk_doc_set_uint64(doc, "/numaPlacement/0/memory", 1024);
  hal_sdk_doc_set_int64(doc, "/numaPlacement/0/guestNode", 0);
  hal_sdk_doc_set_bool(doc, "/launchSecurity/x", 1);
  hal_sdk_doc_set_null(doc, "/launchSecurity/x");
  hal_sdk_doc_set_json(doc, "/launchSecurity", "{\"type\":\"none\"}");
  CHECK(hal_sdk_doc_validate(doc, HAL_SDK_SCHEMA_VM_INFO, &error) == HAL_OK);
  json = hal_sdk_doc_dump(doc);
  CHECK(json != NULL && strstr(json, "\"pid\":1") != NULL);
  hal_sdk_string_free(json);
  CHECK(hal_sdk_doc_emit(doc, HAL_SDK_SCHEMA_VM_INFO, &json, &error) == HAL_OK);
  hal_sdk_string_free(json);
  CHECK(hal_sdk_fail(&error, HAL_NOT_FOUND, "no %s", "vm") == HAL_NOT_FOUND);
  CHECK(strcmp(error.message, "no vm") == 0);

  if (failures == 0) printf("hal/sdk.h from C99: OK\n");
  return failures == 0 ? 0 : 1;
}

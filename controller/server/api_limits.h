// api_limits.h - the Controller API's size limits (controller/api/object_limits.h) applied to
// its requests and answers: an apply request's manifest refused by its size before it is
// parsed, List answered in pages (limit and continue, as Kubernetes does), and the objects that
// Apply and Delete echo back bounded like one List page, so that an answer never grows past what
// a client receives because the objects in it are large or many.
#ifndef HAL_CONTROLLER_SERVER_API_LIMITS_H
#define HAL_CONTROLLER_SERVER_API_LIMITS_H

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <optional>
#include <string>

#include "controller/api/object_limits.h"
#include "controller/store/store.h"
#include "hal/v1/controller.pb.h"

namespace hal::controller {

/** The largest message the controller's gRPC port takes: the manifest limit plus room for the
 *  rest of an ApplyRequest. Larger messages are refused by gRPC before they are read into
 *  memory (RESOURCE_EXHAUSTED). */
size_t max_request_bytes(const ObjectLimits &limits);

/** RESOURCE_EXHAUSTED naming both sizes when a manifest of `bytes` is over the limit. */
std::optional<grpc::Status> refuse_manifest_size(size_t bytes, const ObjectLimits &limits);

/** Fills `response` with the page of `kind` objects in the request's namespace that `request`
 *  asks for, read from `store`: every object without a limit; else up to request.limit objects
 *  after the one its continue token names, and no more than `page_bytes` of JSON unless the
 *  page would be empty, with a continue token when more follow. Throws
 *  ActionError(INVALID_ARGUMENT) for a token this controller did not make. */
void fill_list_page(const Store &store, const std::string &kind, const v1::ListRequest &request,
                    size_t page_bytes, v1::ListResponse *response);

/** to_wire for an answer that echoes objects: the whole object while its JSON fits `budget`
 *  (which it then reduces), else only its apiVersion, kind and metadata's name, namespace, uid,
 *  generation, resourceVersion and creationTimestamp. */
void to_wire_within(const StoredObject &stored, size_t &budget, v1::Object *object);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_API_LIMITS_H

// events.h - Event objects (apiVersion v1, kind Event) recorded for controller actions: one
// object per involved object and reason, aggregated with a count like Kubernetes does, written
// in the same store transaction as the change they describe.
#ifndef HAL_CONTROLLER_SERVER_EVENTS_H
#define HAL_CONTROLLER_SERVER_EVENTS_H

#include <string>
#include <vector>

#include "controller/store/store.h"

namespace hal::controller {

/** Event severity. */
enum class EventType { kNormal, kWarning };

/** The write that records (or bumps the count of) an event about `involved`. The event lives
 *  in the involved object's namespace ("default" for cluster-scoped objects). */
StoreWrite record_event(const Store &store, const StoreKey &involved, EventType type,
                        const std::string &reason, const std::string &message);

/** Deletes of every event about `involved` (for when the object goes away). */
std::vector<StoreWrite> delete_events(const Store &store, const StoreKey &involved);

/** Events about `involved`, oldest first. */
std::vector<StoredObject> events_for(const Store &store, const StoreKey &involved);

}  // namespace hal::controller

#endif  // HAL_CONTROLLER_SERVER_EVENTS_H

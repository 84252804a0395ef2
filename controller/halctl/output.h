// output.h - halctl's output formatting, independent of the server: kubectl-like tables per
// kind (and -o wide), YAML/JSON documents, `describe` text, ages and the migration progress bar.
#ifndef HAL_CONTROLLER_HALCTL_OUTPUT_H
#define HAL_CONTROLLER_HALCTL_OUTPUT_H

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal::halctl {

/** Output format of `get`. */
enum class Format { kTable, kWide, kYaml, kJson };

/** Parses "-o" values: "" (table), "wide", "yaml", "json"; false for anything else. */
bool parse_format(const std::string &text, Format &format);

/** Facts from other objects that some tables show (VMs per node, nodes per pool). */
struct TableContext {
  std::vector<nlohmann::json> nodes;  ///< Node objects (for NodePool NODES).
  std::vector<nlohmann::json> vmis;   ///< VMI objects (for Node VMS).
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();  ///< For AGE.
};

/** `rows` (the first one a header) as columns three spaces apart, sized to their widest cell. */
std::string render_table(const std::vector<std::vector<std::string>> &rows);

/** Renders `objects` of canonical `kind` as an aligned table with a header line; columns per
 *  kind as kubectl/virtctl show them (RoleBinding and ClusterRoleBinding: NAME ROLE AGE, wide
 *  adds USERS GROUPS; Role and ClusterRole: NAME AGE). */
std::string format_table(const std::string &kind, const std::vector<nlohmann::json> &objects,
                         bool wide, const TableContext &context);

/** One object as YAML/JSON; several as a `kind: List` document. */
std::string format_document(const std::vector<nlohmann::json> &objects, bool single, Format format);

/** `describe` text: identity, labels, spec and status (as YAML), conditions, then the events
 *  whose involvedObject is this object (events: Event objects of any namespace). */
std::string format_describe(const nlohmann::json &object, const std::vector<nlohmann::json> &events,
                            std::chrono::system_clock::time_point now);

/** kubectl-like age of an RFC 3339 timestamp ("45s", "12m", "5h", "3d"; "<unknown>"). */
std::string format_age(const nlohmann::json &timestamp, std::chrono::system_clock::time_point now);

/** One line of migration progress: a bar on a TTY ("[=====>    ]  52% Running 1.0Gi/2.0Gi"),
 *  else "phase=Running progress=52%". */
std::string format_progress(const nlohmann::json &migration, bool tty, int width = 30);

/** "virtualmachine/name" for an object (lower-case kind). */
std::string object_ref(const nlohmann::json &object);

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_OUTPUT_H

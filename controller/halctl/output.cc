// output.cc - table, document, describe and progress formatting for halctl (see output.h).
#include "controller/halctl/output.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iomanip>
#include <sstream>

#include "controller/api/yaml_json.h"
#include "core/spec/quantity.h"

namespace hal::halctl {

using nlohmann::json;

namespace {

// Value at a dotted path of object keys, or null.
const json &at(const json &object, std::initializer_list<const char *> keys) {
  static const json null_value;
  const json *node = &object;
  for (const char *key : keys) {
    if (!node->is_object()) return null_value;
    auto it = node->find(key);
    if (it == node->end()) return null_value;
    node = &*it;
  }
  return *node;
}

std::string text(const json &value, const std::string &fallback = "<none>") {
  if (value.is_string())
    return value.get<std::string>().empty() ? fallback : value.get<std::string>();
  if (value.is_null()) return fallback;
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  return value.dump();
}

std::string condition_status(const json &object, const std::string &type) {
  const json &conditions = at(object, {"status", "conditions"});
  if (!conditions.is_array()) return "False";
  for (const auto &c : conditions) {
    if (c.is_object() && c.value("type", std::string()) == type) {
      return text(c.value("status", json("False")), "False");
    }
  }
  return "False";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string quantity_text(const json &value) {
  if (value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0)) {
    return format_quantity(value.get<uint64_t>());
  }
  return text(value, "0");
}

std::string name_of(const json &o) {
  return text(at(o, {"metadata", "name"}), "");
}

// Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)".
bool parse_time(const std::string &s, std::chrono::system_clock::time_point &out) {
  std::tm tm{};
  int offset_sign = 0, oh = 0, om = 0;
  if (s.size() < 20) return false;
  std::istringstream in(s.substr(0, 19));
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return false;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    while (pos + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[pos + 1]))) ++pos;
    ++pos;
  }
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-') && s.size() >= pos + 6) {
    offset_sign = s[pos] == '+' ? 1 : -1;
    oh = std::atoi(s.substr(pos + 1, 2).c_str());
    om = std::atoi(s.substr(pos + 4, 2).c_str());
  } else if (pos >= s.size() || (s[pos] != 'Z' && s[pos] != 'z')) {
    return false;
  }
  time_t t = timegm(&tm) - offset_sign * (oh * 3600 + om * 60);
  out = std::chrono::system_clock::from_time_t(t);
  return true;
}

}  // namespace

std::string render_table(const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> widths;
  for (const auto &row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto &row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

bool parse_format(const std::string &value, Format &format) {
  if (value.empty())
    format = Format::kTable;
  else if (value == "wide")
    format = Format::kWide;
  else if (value == "yaml")
    format = Format::kYaml;
  else if (value == "json")
    format = Format::kJson;
  else
    return false;
  return true;
}

std::string object_ref(const json &object) {
  return lower(text(at(object, {"kind"}), "object")) + "/" + name_of(object);
}

std::string format_age(const json &timestamp, std::chrono::system_clock::time_point now) {
  std::chrono::system_clock::time_point then;
  if (!timestamp.is_string() || !parse_time(timestamp.get<std::string>(), then)) {
    return "<unknown>";
  }
  auto s = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 2 * 3600) return std::to_string(s / 60) + "m";
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string format_table(const std::string &kind, const std::vector<json> &objects, bool wide,
                         const TableContext &context) {
  std::vector<std::vector<std::string>> rows;
  auto age = [&](const json &o) {
    return format_age(at(o, {"metadata", "creationTimestamp"}), context.now);
  };
  if (kind == "VirtualMachine") {
    rows.push_back({"NAME", "AGE", "STATUS", "READY"});
    for (const auto &o : objects) {
      rows.push_back({name_of(o), age(o), text(at(o, {"status", "printableStatus"}), "Stopped"),
                      text(at(o, {"status", "ready"}), "False")});
    }
  } else if (kind == "VirtualMachineInstance") {
    rows.push_back({"NAME", "AGE", "PHASE", "NODENAME", "READY"});
    if (wide) {
      rows.back().insert(rows.back().end(), {"BACKEND", "VMID", "IP"});
    }
    for (const auto &o : objects) {
      rows.push_back({name_of(o), age(o), text(at(o, {"status", "phase"}), "Pending"),
                      text(at(o, {"status", "nodeName"}), ""), condition_status(o, "Ready")});
      if (wide) {
        const json &ifaces = at(o, {"status", "interfaces"});
        std::string ip = "<none>";
        if (ifaces.is_array() && !ifaces.empty() && ifaces[0].is_object()) {
          ip = text(ifaces[0].value("ipAddress", json()));
        }
        rows.back().insert(rows.back().end(), {text(at(o, {"status", "hal", "backend"})),
                                               text(at(o, {"status", "hal", "vmId"})), ip});
      }
    }
  } else if (kind == "VirtualMachineInstanceMigration") {
    rows.push_back({"NAME", "PHASE", "VMI", "SOURCE", "TARGET", "PROGRESS"});
    for (const auto &o : objects) {
      const json &percent = at(o, {"status", "progress", "percent"});
      rows.push_back({name_of(o), text(at(o, {"status", "phase"}), "Pending"),
                      text(at(o, {"spec", "vmiName"})),
                      text(at(o, {"status", "migrationState", "sourceNode"})),
                      text(at(o, {"status", "migrationState", "targetNode"})),
                      percent.is_number() ? std::to_string(percent.get<int>()) + "%" : "-"});
    }
  } else if (kind == "Node") {
    rows.push_back({"NAME", "STATUS", "POOL", "BACKENDS", "CPU", "MEM", "VMS"});
    for (const auto &o : objects) {
      std::string status = condition_status(o, "Ready") == "True" ? "Ready" : "NotReady";
      if (at(o, {"spec", "unschedulable"}) == true) status += ",SchedulingDisabled";
      std::string backends;
      const json &b = at(o, {"status", "backends"});
      if (b.is_array()) {
        for (const auto &item : b) {
          if (!backends.empty()) backends += ",";
          backends += item.is_string()
                          ? item.get<std::string>()
                          : text(item.is_object() ? item.value("name", json()) : json());
        }
      }
      size_t vms = std::count_if(context.vmis.begin(), context.vmis.end(), [&](const json &v) {
        return at(v, {"status", "nodeName"}) == name_of(o);
      });
      rows.push_back({name_of(o), status, text(at(o, {"status", "pool"})),
                      backends.empty() ? "<none>" : backends,
                      text(at(o, {"status", "allocated", "cpu"}), "0") + "/" +
                          text(at(o, {"status", "allocatable", "cpu"}), "0"),
                      quantity_text(at(o, {"status", "allocated", "memory"})) + "/" +
                          quantity_text(at(o, {"status", "allocatable", "memory"})),
                      std::to_string(vms)});
    }
  } else if (kind == "NodePool") {
    rows.push_back({"NAME", "BACKEND", "NODES"});
    for (const auto &o : objects) {
      size_t nodes = std::count_if(context.nodes.begin(), context.nodes.end(), [&](const json &n) {
        return at(n, {"status", "pool"}) == name_of(o);
      });
      rows.push_back(
          {name_of(o), text(at(o, {"spec", "backend", "plugin"})), std::to_string(nodes)});
    }
  } else if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
    rows.push_back({"NAME", "ROLE", "AGE"});
    if (wide) rows.back().insert(rows.back().end(), {"USERS", "GROUPS"});
    for (const auto &o : objects) {
      rows.push_back(
          {name_of(o),
           text(at(o, {"roleRef", "kind"}), "") + "/" + text(at(o, {"roleRef", "name"}), ""),
           age(o)});
      if (!wide) continue;
      std::string users, groups;
      const json &subjects = at(o, {"subjects"});
      for (const auto &subject : subjects.is_array() ? subjects : json::array()) {
        std::string &list = at(subject, {"kind"}) == "Group" ? groups : users;
        list += (list.empty() ? "" : ",") + text(at(subject, {"name"}), "");
      }
      rows.back().insert(rows.back().end(),
                         {users.empty() ? "<none>" : users, groups.empty() ? "<none>" : groups});
    }
  } else if (kind == "Event") {
    rows.push_back({"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"});
    for (const auto &o : objects) {
      const json &ts =
          at(o, {"lastTimestamp"}).is_null() ? at(o, {"firstTimestamp"}) : at(o, {"lastTimestamp"});
      rows.push_back({format_age(ts, context.now), text(at(o, {"type"})), text(at(o, {"reason"})),
                      lower(text(at(o, {"involvedObject", "kind"}))) + "/" +
                          text(at(o, {"involvedObject", "name"}), ""),
                      text(at(o, {"message"}), "")});
    }
  } else {
    rows.push_back({"NAME", "AGE"});
    for (const auto &o : objects) rows.push_back({name_of(o), age(o)});
  }
  return render_table(rows);
}

std::string format_document(const std::vector<json> &objects, bool single, Format format) {
  json doc;
  if (single && objects.size() == 1) {
    doc = objects.front();
  } else {
    doc = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", objects}};
  }
  if (format == Format::kJson) return doc.dump(4) + "\n";
  return hal::controller::json_to_yaml(doc);
}

std::string format_describe(const json &object, const std::vector<json> &events,
                            std::chrono::system_clock::time_point now) {
  std::ostringstream out;
  auto field = [&](const std::string &label, const std::string &value) {
    out << label << ":" << std::string(label.size() < 13 ? 13 - label.size() : 1, ' ') << value
        << "\n";
  };
  auto map_lines = [&](const std::string &label, const json &map) {
    if (!map.is_object() || map.empty()) {
      field(label, "<none>");
      return;
    }
    bool first = true;
    for (const auto &[k, v] : map.items()) {
      std::string line = k + "=" + text(v, "");
      if (first) {
        field(label, line);
        first = false;
      } else {
        out << std::string(14, ' ') << line << "\n";
      }
    }
  };
  auto indented_yaml = [&](const json &value) {
    std::istringstream lines(hal::controller::json_to_yaml(value));
    std::string line;
    while (std::getline(lines, line)) out << "  " << line << "\n";
  };
  field("Name", name_of(object));
  if (!at(object, {"metadata", "namespace"}).is_null()) {
    field("Namespace", text(at(object, {"metadata", "namespace"})));
  }
  field("Kind", text(at(object, {"kind"})));
  field("API Version", text(at(object, {"apiVersion"})));
  map_lines("Labels", at(object, {"metadata", "labels"}));
  map_lines("Annotations", at(object, {"metadata", "annotations"}));
  field("Created", text(at(object, {"metadata", "creationTimestamp"}), "<unknown>"));
  if (object.contains("spec")) {
    out << "Spec:\n";
    indented_yaml(object["spec"]);
  }
  json status = at(object, {"status"});
  json conditions = json::array();
  if (status.is_object()) {
    if (status.contains("conditions")) {
      conditions = status["conditions"];
      status.erase("conditions");
    }
    if (!status.empty()) {
      out << "Status:\n";
      indented_yaml(status);
    }
  }
  out << "Conditions:\n";
  if (!conditions.is_array() || conditions.empty()) {
    out << "  <none>\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"TYPE", "STATUS", "REASON", "MESSAGE"}};
    for (const auto &c : conditions) {
      rows.push_back({text(c.value("type", json())), text(c.value("status", json())),
                      text(c.value("reason", json()), ""), text(c.value("message", json()), "")});
    }
    std::istringstream lines(render_table(rows));
    std::string line;
    while (std::getline(lines, line)) out << "  " << line << "\n";
  }
  std::vector<std::vector<std::string>> rows = {{"TYPE", "REASON", "AGE", "COUNT", "MESSAGE"}};
  const std::string kind = text(at(object, {"kind"}), "");
  const std::string name = name_of(object);
  const json &ns = at(object, {"metadata", "namespace"});
  for (const auto &e : events) {
    const json &io = at(e, {"involvedObject"});
    if (!io.is_object() || io.value("kind", std::string()) != kind ||
        io.value("name", std::string()) != name) {
      continue;
    }
    if (ns.is_string() && io.contains("namespace") && io["namespace"] != ns) continue;
    const json &ts =
        at(e, {"lastTimestamp"}).is_null() ? at(e, {"firstTimestamp"}) : at(e, {"lastTimestamp"});
    rows.push_back({text(at(e, {"type"})), text(at(e, {"reason"})), format_age(ts, now),
                    text(at(e, {"count"}), "1"), text(at(e, {"message"}), "")});
  }
  if (rows.size() == 1) {
    out << "Events:      <none>\n";
  } else {
    out << "Events:\n";
    std::istringstream lines(render_table(rows));
    std::string line;
    while (std::getline(lines, line)) out << "  " << line << "\n";
  }
  return out.str();
}

std::string format_progress(const json &migration, bool tty, int width) {
  const std::string phase = text(at(migration, {"status", "phase"}), "Pending");
  const json &percent_json = at(migration, {"status", "progress", "percent"});
  int percent = percent_json.is_number() ? std::clamp(percent_json.get<int>(), 0, 100) : 0;
  if (phase == "Succeeded") percent = 100;
  if (!tty) return "phase=" + phase + " progress=" + std::to_string(percent) + "%";
  int filled = percent * width / 100;
  std::string bar = "[" + std::string(filled, '=') +
                    (filled < width ? ">" + std::string(width - filled - 1, ' ') : "") + "]";
  std::string line = bar + " " +
                     std::string(percent < 10    ? 2
                                 : percent < 100 ? 1
                                                 : 0,
                                 ' ') +
                     std::to_string(percent) + "% " + phase;
  const json &processed = at(migration, {"status", "progress", "dataProcessedBytes"});
  const json &remaining = at(migration, {"status", "progress", "dataRemainingBytes"});
  if (processed.is_number_unsigned() || processed.is_number_integer()) {
    uint64_t done = processed.get<uint64_t>();
    uint64_t total = done + (remaining.is_number() ? remaining.get<uint64_t>() : 0);
    line += " " + format_quantity(done / (1 << 20) << 20) + "/" +
            format_quantity(total / (1 << 20) << 20);
  }
  return line;
}

}  // namespace hal::halctl

// clause.h - the clause registry of hal-conformance: every conformance test is one clause with an
// id (LC-001, MG-003, ...), a profile, an RFC 2119 level and an optional capability; the
// catalogue (CLAUSES.md) is generated from this registry so tests and catalogue cannot drift.
#ifndef HAL_CONFORMANCE_CLAUSE_H
#define HAL_CONFORMANCE_CLAUSE_H

#include <string>
#include <string_view>
#include <vector>

namespace hal::conformance {

/** RFC 2119 level of a clause. MUST failures fail a profile; SHOULD/MAY failures make it partial.
 */
enum class Level { MUST, SHOULD, MAY };

/** "MUST", "SHOULD" or "MAY". */
std::string_view level_name(Level level);

/** The four profiles, in report order. */
inline const std::vector<std::string> &all_profiles() {
  static const std::vector<std::string> profiles = {"lifecycle", "migration", "tdx", "numa"};
  return profiles;
}

/** One clause: what a backend must do, and the test that checks it. */
struct Clause {
  std::string id;       ///< "LC-001".
  std::string profile;  ///< "lifecycle" | "migration" | "tdx" | "numa".
  Level level;          ///< RFC 2119 level.
  /** Optional capability ("operations.vm_pause", "features.vcpuPinning"): the clause is skipped,
   *  with the reason recorded, only when the backend declares it absent. Empty = required. */
  std::string capability;
  std::string title;  ///< One sentence: the requirement.
  void (*body)();     ///< The test; uses GoogleTest assertions.
};

/** Every registered clause, sorted by profile order then id. */
const std::vector<Clause> &clauses();

/** Registers a clause at static-initialisation time (use HAL_CLAUSE). */
struct ClauseRegistrar {
  /** Adds `clause` to the registry. */
  explicit ClauseRegistrar(Clause clause);
};

/** The clause catalogue as Markdown (the content of conformance/CLAUSES.md). */
std::string clauses_markdown();

/** The clause catalogue as plain text, one clause a line. */
std::string clauses_text();

}  // namespace hal::conformance

/** Defines clause TOKEN (LC_001 -> id "LC-001") of `profile` at level `level` (MUST/SHOULD/MAY),
 *  skipped only when optional capability `cap` ("" = none) is declared absent; the braces that
 *  follow are its test body. */
#define HAL_CLAUSE(TOKEN, profile, level, cap, title)                                            \
  static void TOKEN##_body();                                                                    \
  static const ::hal::conformance::ClauseRegistrar TOKEN##_registrar(::hal::conformance::Clause{ \
      #TOKEN, profile, ::hal::conformance::Level::level, cap, title, &TOKEN##_body});            \
  static void TOKEN##_body()

#endif  // HAL_CONFORMANCE_CLAUSE_H

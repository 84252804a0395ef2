// state_journal.h - the mock backend's persistent VM state: one append-only journal file per
// state directory. Each write of a VM appends one line (its whole state document); a deletion
// appends a tombstone. Loading keeps the last whole line of each VM, so a torn last line (a
// crash while appending) only loses that write. The file is rewritten compactly (temp file +
// rename) when it has grown to several times its live content.
#ifndef HAL_BACKENDS_MOCK_STATE_JOURNAL_H
#define HAL_BACKENDS_MOCK_STATE_JOURNAL_H

#include <cstddef>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

namespace hal::mock {

/** An append-only journal of VM state documents. Thread-safe. */
class StateJournal {
 public:
  /** Opens (creating) `dir`/vms.journal; throws plugin::Failure naming `dir` when it cannot. */
  explicit StateJournal(const std::string &dir);
  ~StateJournal();
  StateJournal(const StateJournal &) = delete;
  StateJournal &operator=(const StateJournal &) = delete;

  /** The state document of every VM in the journal, by VM id, as loaded at open (handed over
   *  once: later calls return nothing). */
  std::map<std::string, nlohmann::json> take_loaded();
  /** Records `document` (one JSON object, compact, no newline) as the state of VM `id`;
   *  throws plugin::Failure when the write fails. */
  void write(const std::string &id, std::string document);
  /** Records that VM `id` is gone. */
  void erase(const std::string &id);

 private:
  void append(const std::string &line);
  void compact();  // journal mutex held

  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
  std::unordered_map<std::string, std::string> live_;  ///< id → its last line.
  size_t live_bytes_ = 0;                              ///< Sum of live_ line sizes.
  size_t file_bytes_ = 0;                              ///< Current journal size.
  std::map<std::string, nlohmann::json> loaded_;       ///< Until take_loaded().
};

}  // namespace hal::mock

#endif  // HAL_BACKENDS_MOCK_STATE_JOURNAL_H

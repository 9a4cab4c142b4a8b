// Command-line parsing for the clients (collectionsctl, collections-agent),
// in two syntaxes. Parse (collectionsctl's): each (sub)command declares its
// flags; it accepts --name=value, --name value and bare --switch, keeps the
// other words as positional arguments, and refuses what the command does
// not know with a message that says what to fix. ParseNamed
// (collections-agent's): every word is --name or --name=value, whatever the
// name; the caller checks the names. Pure; an Args is a value, safe to read
// from several threads once parsed.
#ifndef COLLECTIONS_CLIENTS_COMMON_ARGS_H_
#define COLLECTIONS_CLIENTS_COMMON_ARGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace collections::clients {

struct Flag {
  std::string name;   // without the dashes
  std::string value;  // what the value is ("DATE", "N"); empty: a switch
  std::string help;
};

class Args {
 public:
  // `flags` are the ones the command knows. INVALID_ARGUMENT naming the
  // flag for an unknown one, a missing value or a repeated flag.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& words,
                                    const std::vector<Flag>& flags);
  // Every word must be --name or --name=value (a bare --name has the value
  // ""); a flag may not be given twice. INVALID_ARGUMENT "unexpected
  // argument \"WORD\"" or "--name given twice" otherwise.
  static absl::StatusOr<Args> ParseNamed(const std::vector<std::string>& words);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The value, or `fallback` when the flag is absent.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& positional() const { return positional_; }
  // ParseNamed: the flag was given as a bare --name, without "=".
  bool Bare(const std::string& name) const { return bare_.count(name) > 0; }
  // The names of the flags given, in name order.
  std::vector<std::string> Names() const;

  // Typed values; INVALID_ARGUMENT naming the flag and what it expects.
  absl::StatusOr<int64_t> Int(const std::string& name, int64_t fallback) const;
  // A CNY amount ("1500", "1500.5", "1500.50") as fen, never through
  // floating point.
  absl::StatusOr<int64_t> Cny(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::set<std::string> bare_;
};

// One command-line word read as a flag: "--name=value" -> {name, value},
// "--name" -> {name, no value}; nullopt for a word that is not a flag
// ("x", "-h", "-", "--"). Both syntaxes above read flags with it.
struct FlagWord {
  std::string name;
  std::optional<std::string> value;
};
std::optional<FlagWord> SplitFlagWord(const std::string& word);

// "1500.50" -> 150050; false for anything else (negative, 3 decimals, ...).
bool ParseCny(const std::string& text, int64_t* fen);

// "  --name=VALUE   help" lines for a command's --help.
std::string FlagHelp(const std::vector<Flag>& flags);

}  // namespace collections::clients

#endif  // COLLECTIONS_CLIENTS_COMMON_ARGS_H_

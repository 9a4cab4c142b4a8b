#include "clients/common/args.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace collections::clients {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& words,
                                 const std::vector<Flag>& flags) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (flags_done || !absl::StartsWith(w, "--") || w == "-") {
      args.positional_.push_back(w);
      continue;
    }
    if (w == "--") {
      flags_done = true;
      continue;
    }
    FlagWord word = *SplitFlagWord(w);  // starts with "--" and is longer
    const std::string& name = word.name;
    std::optional<std::string>& value = word.value;
    auto flag =
        std::find_if(flags.begin(), flags.end(), [&](const Flag& f) { return f.name == name; });
    if (flag == flags.end()) {
      // A common slip: dashes for underscores.
      std::string hint;
      std::string underscored = name;
      std::replace(underscored.begin(), underscored.end(), '-', '_');
      for (const Flag& f : flags) {
        if (f.name == underscored) hint = absl::StrCat(" (did you mean --", f.name, "?)");
      }
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, hint));
    }
    if (flag->value.empty()) {
      if (value && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      if (!value || *value == "true") args.values_[name] = "true";
      continue;
    }
    if (!value) {
      if (i + 1 >= words.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value (", flag->value, ")"));
      }
      value = words[++i];
    }
    if (args.values_.count(name)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is given twice"));
    }
    args.values_[name] = *value;
  }
  return args;
}

absl::StatusOr<Args> Args::ParseNamed(const std::vector<std::string>& words) {
  Args args;
  for (const std::string& w : words) {
    const std::optional<FlagWord> flag = SplitFlagWord(w);
    if (!flag) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", w, "\""));
    }
    if (args.values_.count(flag->name)) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag->name, " given twice"));
    }
    args.values_[flag->name] = flag->value.value_or("");
    if (!flag->value) args.bare_.insert(flag->name);
  }
  return args;
}

std::vector<std::string> Args::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, value] : values_) names.push_back(name);
  return names;
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> Args::Int(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a whole number, not \"", it->second, "\""));
  }
  return v;
}

absl::StatusOr<int64_t> Args::Cny(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required (CNY, e.g. 1500.50)"));
  }
  int64_t fen = 0;
  if (!ParseCny(it->second, &fen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " must be an amount in CNY with at most 2 decimals, e.g. 1500.50, not \"",
        it->second, "\""));
  }
  return fen;
}

std::optional<FlagWord> SplitFlagWord(const std::string& word) {
  if (word.size() < 3 || word.compare(0, 2, "--") != 0) return std::nullopt;
  FlagWord flag;
  const size_t eq = word.find('=');
  flag.name = word.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
  if (eq != std::string::npos) flag.value = word.substr(eq + 1);
  return flag;
}

bool ParseCny(const std::string& text, int64_t* fen) {
  const std::string s(absl::StripAsciiWhitespace(text));
  const size_t dot = s.find('.');
  const std::string whole = s.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : s.substr(dot + 1);
  if (whole.empty() || frac.size() > 2 || (dot != std::string::npos && frac.empty())) {
    return false;
  }
  for (char c : whole + frac) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  int64_t units = 0;
  if (whole.size() > 15 || !absl::SimpleAtoi(whole, &units)) return false;
  while (frac.size() < 2) frac += '0';
  *fen = units * 100 + (frac[0] - '0') * 10 + (frac[1] - '0');
  return true;
}

std::string FlagHelp(const std::vector<Flag>& flags) {
  std::string out;
  size_t width = 0;
  std::vector<std::string> names;
  for (const Flag& f : flags) {
    names.push_back(f.value.empty() ? absl::StrCat("--", f.name)
                                    : absl::StrCat("--", f.name, "=", f.value));
    width = std::max(width, names.back().size());
  }
  for (size_t i = 0; i < flags.size(); ++i) {
    absl::StrAppend(&out, "  ", names[i], std::string(width - names[i].size() + 2, ' '),
                    flags[i].help, "\n");
  }
  return out;
}

}  // namespace collections::clients

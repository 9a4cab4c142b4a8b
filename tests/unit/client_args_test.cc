// The clients' shared command-line parser (clients/common/args.h): one word
// as a flag, and the agent's syntax (--name and --name=value only, any name,
// no repeats).
// collectionsctl's syntax is checked in ctl_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "clients/common/args.h"

namespace collections::clients {
namespace {

using ::testing::ElementsAre;

Args ParseOrDie(const std::vector<std::string>& words) {
  absl::StatusOr<Args> args = Args::ParseNamed(words);
  EXPECT_TRUE(args.ok()) << args.status();
  return args.ok() ? *args : Args();
}

TEST(ArgsParseNamed, ValuesAndBareFlags) {
  auto args = ParseOrDie({"--task=17", "--right_party", "--notes=", "--reason=a=b"});
  EXPECT_EQ(args.Get("task"), "17");
  EXPECT_TRUE(args.Has("right_party"));
  EXPECT_TRUE(args.Bare("right_party"));
  EXPECT_EQ(args.Get("right_party"), "");
  EXPECT_TRUE(args.Has("notes"));
  EXPECT_FALSE(args.Bare("notes"));
  EXPECT_EQ(args.Get("notes"), "");
  EXPECT_EQ(args.Get("reason"), "a=b");
  EXPECT_FALSE(args.Has("token"));
  EXPECT_EQ(args.Get("token", "fallback"), "fallback");
  EXPECT_THAT(args.Names(), ElementsAre("notes", "reason", "right_party", "task"));
  EXPECT_TRUE(args.positional().empty());
}

TEST(ArgsParseNamed, RefusesWordsShortDashesAndRepeats) {
  struct Case {
    std::vector<std::string> words;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--task=1", "17"}, "unexpected argument \"17\""},
           {{"--"}, "unexpected argument \"--\""},
           {{"-h"}, "unexpected argument \"-h\""},
           {{"--task=1", "--task=2"}, "--task given twice"},
           {{"--held", "--held=true"}, "--held given twice"},
       }) {
    absl::StatusOr<Args> args = Args::ParseNamed(c.words);
    ASSERT_FALSE(args.ok()) << c.message;
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(args.status().message(), c.message);
  }
}

TEST(SplitFlagWord, NameAndValueOrNotAFlag) {
  std::optional<FlagWord> f = SplitFlagWord("--dir=/var/inbox=x");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->name, "dir");
  EXPECT_EQ(f->value, "/var/inbox=x");
  f = SplitFlagWord("--once");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->name, "once");
  EXPECT_FALSE(f->value.has_value());
  f = SplitFlagWord("--firm=");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->value, "");
  for (const char* word : {"", "x", "-", "-h", "--", "-x=1"}) {
    EXPECT_FALSE(SplitFlagWord(word).has_value()) << word;
  }
}

TEST(ArgsParseNamed, NothingIsNothing) {
  absl::StatusOr<Args> args = Args::ParseNamed({});
  ASSERT_TRUE(args.ok());
  EXPECT_TRUE(args->Names().empty());
}

}  // namespace
}  // namespace collections::clients

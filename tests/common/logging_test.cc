#include "common/logging.h"

#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::logging {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class LoggingTest : public ::testing::Test {
 protected:
  ~LoggingTest() override { Configure(Level::kInfo, false); }
};

TEST_F(LoggingTest, TextLinesHaveUtcTimeLevelComponentAndMessage) {
  std::ostringstream out;
  Configure(Level::kInfo, false, &out);
  Info("learner", "published v7");
  Warning("feedback", "refused");
  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], MatchesRegex(R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z info    learner: published v7)"));
  EXPECT_THAT(lines[1], HasSubstr(" warning feedback: refused"));
}

TEST_F(LoggingTest, JsonLinesEscapeTheMessage) {
  std::ostringstream out;
  Configure(Level::kDebug, true, &out);
  Debug("grpc", "a \"quoted\"\tline\nwith a \\ and \x01");
  auto entry = ParseJsonObject(out.str());
  ASSERT_TRUE(entry.ok()) << entry.status() << out.str();
  EXPECT_EQ(entry->fields().at("level").string_value(), "debug");
  EXPECT_EQ(entry->fields().at("component").string_value(), "grpc");
  EXPECT_EQ(entry->fields().at("msg").string_value(), "a \"quoted\"\tline\nwith a \\ and \x01");
  EXPECT_THAT(entry->fields().at("time").string_value(), MatchesRegex(R"([0-9]{4}-.*T.*\.[0-9]{6}Z)"));
}

TEST_F(LoggingTest, LinesBelowTheLevelAreNotWritten) {
  std::ostringstream out;
  Configure(Level::kWarning, false, &out);
  Info("server", "quiet");
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  Error("server", "loud");
  EXPECT_THAT(out.str(), Not(HasSubstr("quiet")));
  EXPECT_THAT(out.str(), HasSubstr("error   server: loud"));
  Configure(Level::kOff, false, &out);
  Error("server", "silent");
  EXPECT_THAT(out.str(), Not(HasSubstr("silent")));
}

TEST_F(LoggingTest, LevelNamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(*ParseLevel("WARN"), Level::kWarning);
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("off"), Level::kOff);
  auto bad = ParseLevel("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'loud' is not a log level"));
}

TEST_F(LoggingTest, RateLimitedLogWritesOneLinePerPeriodAndCountsTheRest) {
  std::ostringstream out;
  Configure(Level::kInfo, false, &out);
  RateLimitedLog log(absl::Seconds(10));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(log.Log(Level::kWarning, "feedback", "refused", t0));
  for (int i = 1; i <= 5; ++i) EXPECT_FALSE(log.Log(Level::kWarning, "feedback", "refused", t0 + absl::Seconds(i)));
  EXPECT_TRUE(log.Log(Level::kWarning, "feedback", "refused", t0 + absl::Seconds(10)));
  const std::vector<std::string> lines = absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], ::testing::EndsWith("feedback: refused"));
  EXPECT_THAT(lines[1], ::testing::EndsWith("feedback: refused (5 more since the last such line)"));
}

}  // namespace
}  // namespace rtrec::logging

#include "eval/datasets.h"

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::eval {
namespace {

using ::testing::HasSubstr;

// ctest runs every test in its own process, in parallel: each test writes
// under names of its own.
std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/datasets_test_" + name;
  std::ofstream(path) << text;
  return path;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kObd = std::string(RTREC_SOURCE_DIR) + "/data/open-bandit";

TEST(DatasetsTest, ReadsTheShippedOpenBanditSample) {
  auto log = ReadOpenBanditLog(kObd + "/random/men/men.csv");
  ASSERT_TRUE(log.ok()) << log.status();
  ASSERT_EQ(log->size(), 10000u);
  int clicks = 0;
  for (const auto& r : *log) {
    clicks += r.click > 0;
    EXPECT_NEAR(r.propensity, 1.0 / 34, 1e-12);
    ASSERT_EQ(r.affinity.size(), 34u);
    ASSERT_EQ(r.user_features.size(), 4u);
    EXPECT_GE(r.position, 1);
    EXPECT_LE(r.position, 3);
  }
  EXPECT_EQ(clicks, 46);  // data/open-bandit/SOURCE.md
  EXPECT_LE((*log)[0].timestamp, (*log)[9999].timestamp);
  auto items = ReadOpenBanditItems(kObd + "/random/men/item_context.csv");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 34u);
  EXPECT_EQ((*items)[1].item_id, 1);
  EXPECT_EQ((*items)[1].categories.size(), 3u);
}

TEST(DatasetsTest, OpenBanditErrorsNameTheLineAndColumn) {
  const std::string header = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0\n";
  auto bad_click = ReadOpenBanditLog(Write("bad_click.csv", header + "0,2019-11-24,0,1,yes,0.5,a,0.0\n"));
  EXPECT_THAT(bad_click.status().message(), HasSubstr("bad_click.csv:2: column 'click'"));
  auto bad_prop = ReadOpenBanditLog(Write("bad_prop.csv", header + "0,2019-11-24,0,1,0,0,a,0.0\n"));
  EXPECT_THAT(bad_prop.status().message(), HasSubstr(":2: column 'propensity_score'"));
  auto short_row = ReadOpenBanditLog(Write("short.csv", header + "0,2019-11-24,0\n"));
  EXPECT_THAT(short_row.status().message(), HasSubstr(":2: 3 fields"));
  auto no_click = ReadOpenBanditLog(Write("no_click.csv", ",timestamp,item_id,position,propensity_score\n"));
  EXPECT_THAT(no_click.status().message(), HasSubstr("missing column 'click'"));
  EXPECT_EQ(ReadOpenBanditLog("/no/such.csv").status().code(), absl::StatusCode::kNotFound);
}

TEST(DatasetsTest, ReadsBothMovieLensFormats) {
  const std::string dat_movies = Write("movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Heat (1995)::Action\n");
  const std::string dat_ratings = Write("ratings.dat", "7::2::5::978300760\n7::1::3::978302109\n9::1::4::978301968\n");
  auto dat = ReadMovieLens(dat_ratings, dat_movies);
  ASSERT_TRUE(dat.ok()) << dat.status();
  ASSERT_EQ(dat->items.size(), 2u);
  EXPECT_EQ(dat->items[0].item_id, "ml-1");
  EXPECT_EQ(dat->items[0].text, "Animation Children's Comedy");
  EXPECT_THAT(dat->users, ::testing::ElementsAre("7", "9"));
  ASSERT_EQ(dat->interactions.size(), 3u);
  EXPECT_EQ(dat->interactions[0].item, 1);
  EXPECT_EQ(dat->interactions[2].user, 1);

  const std::string csv_movies =
      Write("movies.csv", "movieId,title,genres\n11,\"American President, The (1995)\",Comedy|Drama\n12,Heat (1995),Action\n");
  const std::string csv_ratings = Write("ratings.csv", "userId,movieId,rating,timestamp\n1,12,4.0,964982703\n1,11,3.5,964981247\n");
  auto csv = ReadMovieLens(csv_ratings, csv_movies);
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ(csv->items[0].title, "American President, The (1995)");
  EXPECT_EQ(csv->interactions[1].timestamp, 964981247);

  const std::string unknown = Write("unknown.dat", "7::2::5::1\n7::99::5::2\n");
  EXPECT_THAT(ReadMovieLens(unknown, dat_movies).status().message(),
              HasSubstr("unknown.dat:2: movie 99 is not in"));
  const std::string bad_time = Write("bad_time.dat", "7::2::5::soon\n");
  EXPECT_THAT(ReadMovieLens(bad_time, dat_movies).status().message(), HasSubstr("bad_time.dat:1: timestamp"));
}

TEST(DatasetsTest, TheMovieLensSampleIsDeterministicAndIsTheShippedOne) {
  std::string dir = ::testing::TempDir() + "/movielens-sample-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  ASSERT_TRUE(WriteMovieLensSample(dir, MovieLensSampleOptions()).ok());
  const std::string shipped = std::string(RTREC_SOURCE_DIR) + "/tests/data/movielens_sample";
  EXPECT_EQ(Read(dir + "/ratings.dat"), Read(shipped + "/ratings.dat"));
  EXPECT_EQ(Read(dir + "/movies.dat"), Read(shipped + "/movies.dat"));
  auto data = ReadMovieLens(shipped + "/ratings.dat", shipped + "/movies.dat");
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->items.size(), 120u);
  EXPECT_EQ(data->users.size(), 300u);
  MovieLensSampleOptions other;
  other.seed = 7;
  ASSERT_TRUE(WriteMovieLensSample(dir, other).ok());
  EXPECT_NE(Read(dir + "/ratings.dat"), Read(shipped + "/ratings.dat"));
}

}  // namespace
}  // namespace rtrec::eval

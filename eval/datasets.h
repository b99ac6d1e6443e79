// Readers for the real data rtrec-eval measures on, and the MovieLens-format
// sample the project makes for its tests.
//
// Open Bandit Dataset (Saito et al. 2020; data/open-bandit/SOURCE.md): one
// CSV per policy and campaign, a row per impression with the shown item, its
// position (1..3), click, the logging policy's propensity, four hashed user
// features and one user-item affinity column per item; item_context.csv
// holds item features.
//
// MovieLens format: ratings as `user::movie::rating::timestamp` (ml-1m
// ratings.dat) or CSV with a `userId,movieId,rating,timestamp` header
// (ml-latest-small ratings.csv); titles as `movie::title::genres` or CSV
// `movieId,title,genres` (quoted titles allowed). Genres are `|`-separated.
//
// Every error names the file, the line and the column or field.
//
// Thread safety: free functions.
#ifndef RTREC_EVAL_DATASETS_H_
#define RTREC_EVAL_DATASETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "eval/ranking.h"
#include "model/catalog.h"

namespace rtrec::eval {

struct BanditLogRow {
  std::string timestamp;
  int64_t item = 0;
  int64_t position = 0;
  double click = 0;
  double propensity = 0;
  std::vector<std::string> user_features;
  std::vector<double> affinity;  // per item
};

struct BanditItem {
  int64_t item_id = 0;
  double feature0 = 0;                  // standardised numeric feature
  std::vector<std::string> categories;  // hashed categorical features
};

// Rows in time order (the files are; a stable sort keeps equal times).
absl::StatusOr<std::vector<BanditLogRow>> ReadOpenBanditLog(const std::string& path);
// Items by item_id (index = id). REQUIRES ids 0..n-1.
absl::StatusOr<std::vector<BanditItem>> ReadOpenBanditItems(const std::string& path);

struct MovieLensData {
  std::vector<model::CatalogItem> items;  // "ml-<movieId>", title, genres as text and tags
  std::vector<std::string> users;        // dense user index -> original id
  std::vector<Interaction> interactions;  // file order
};

absl::StatusOr<MovieLensData> ReadMovieLens(const std::string& ratings_path, const std::string& movies_path);

struct MovieLensSampleOptions {
  int64_t users = 300;
  int64_t genres = 12;
  int64_t movies_per_genre = 10;  // a series: part 1, part 2, ...
  int64_t min_length = 8, max_length = 30;
  double next_in_series = 0.7;   // P(the next part of the current series)
  double popular_jump = 0.05;    // P(one of the globally popular movies)
  uint64_t seed = 2024;
};

// Writes ratings.dat and movies.dat (ml-1m format) into `dir`: users who
// like two genres and mostly watch a series in order, so a sequence model
// can beat popularity. Deterministic for the seed.
absl::Status WriteMovieLensSample(const std::string& dir, const MovieLensSampleOptions& options);

}  // namespace rtrec::eval

#endif  // RTREC_EVAL_DATASETS_H_

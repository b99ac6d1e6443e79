#include "eval/datasets.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rtrec::eval {
namespace {

// Splits one CSV line; fields may be quoted ("a, b" and "" inside quotes).
std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

absl::Status LineError(const std::string& path, int64_t line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", what));
}

// A text file's non-empty lines, numbered from 1; errors name file and line.
class LineReader {
 public:
  static absl::StatusOr<LineReader> Open(const std::string& path) {
    LineReader r(path);
    if (!r.in_) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    return r;
  }
  // Moves to the next non-empty line; false at the end.
  bool Next() {
    while (std::getline(in_, line_)) {
      ++line_no_;
      if (!line_.empty()) return true;
    }
    return false;
  }
  const std::string& line() const { return line_; }
  absl::Status Error(const std::string& what) const { return LineError(path_, line_no_, what); }

  // Open Bandit: the current line as CSV with exactly `n` fields.
  absl::StatusOr<std::vector<std::string>> CsvFields(size_t n) const {
    std::vector<std::string> f = SplitCsv(line_);
    if (f.size() != n) return Error(absl::StrCat(f.size(), " fields, the header has ", n));
    return f;
  }
  // MovieLens: the current line's `n` fields, "::"-separated or CSV when the
  // file began with a header starting with `csv_header` (the header itself
  // gives an empty list).
  absl::StatusOr<std::vector<std::string>> MovieLensFields(const std::string& csv_header, size_t n,
                                                           const std::string& what) {
    if (line_no_ == 1 && absl::StartsWith(line_, csv_header)) {
      csv_ = true;
      return std::vector<std::string>();
    }
    std::vector<std::string> f;
    if (csv_ || !absl::StrContains(line_, "::")) {
      f = SplitCsv(line_);
    } else {
      f = absl::StrSplit(absl::StripSuffix(line_, "\r"), "::");
    }
    if (f.size() != n) return Error(absl::StrCat("expected ", what));
    return f;
  }

 private:
  explicit LineReader(const std::string& path) : path_(path), in_(path) {}
  std::string path_;
  std::ifstream in_;
  std::string line_;
  int64_t line_no_ = 0;
  bool csv_ = false;
};

// The first line of an Open Bandit CSV.
absl::StatusOr<std::vector<std::string>> Header(LineReader& in) {
  if (!in.Next()) return in.Error("empty file, expected a header");
  return SplitCsv(in.line());
}

int64_t Column(const std::vector<std::string>& header, const std::string& name) {
  auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : it - header.begin();
}

}  // namespace

absl::StatusOr<std::vector<BanditLogRow>> ReadOpenBanditLog(const std::string& path) {
  auto in = LineReader::Open(path);
  if (!in.ok()) return in.status();
  auto read_header = Header(*in);
  if (!read_header.ok()) return read_header.status();
  const std::vector<std::string>& header = *read_header;
  const int64_t ts = Column(header, "timestamp"), item = Column(header, "item_id"),
                pos = Column(header, "position"), click = Column(header, "click"),
                prop = Column(header, "propensity_score");
  for (auto [name, col] : std::vector<std::pair<const char*, int64_t>>{
           {"timestamp", ts}, {"item_id", item}, {"position", pos}, {"click", click}, {"propensity_score", prop}}) {
    if (col < 0) return LineError(path, 1, absl::StrCat("missing column '", name, "'"));
  }
  std::vector<int64_t> user_cols, affinity_cols;
  for (size_t c = 0; c < header.size(); ++c) {
    if (absl::StartsWith(header[c], "user_feature_")) user_cols.push_back(static_cast<int64_t>(c));
    if (absl::StartsWith(header[c], "user-item_affinity_")) affinity_cols.push_back(static_cast<int64_t>(c));
  }
  std::vector<BanditLogRow> rows;
  auto number = [&](const std::vector<std::string>& f, int64_t col, double* out) -> absl::Status {
    if (!absl::SimpleAtod(f[col], out)) {
      return in->Error(absl::StrCat("column '", header[col], "': not a number '", f[col], "'"));
    }
    return absl::OkStatus();
  };
  while (in->Next()) {
    auto fields = in->CsvFields(header.size());
    if (!fields.ok()) return fields.status();
    const std::vector<std::string>& f = *fields;
    BanditLogRow r;
    r.timestamp = f[ts];
    double v;
    if (auto s = number(f, item, &v); !s.ok()) return s;
    r.item = static_cast<int64_t>(v);
    if (auto s = number(f, pos, &v); !s.ok()) return s;
    r.position = static_cast<int64_t>(v);
    if (auto s = number(f, click, &r.click); !s.ok()) return s;
    if (auto s = number(f, prop, &r.propensity); !s.ok()) return s;
    if (!(r.propensity > 0 && r.propensity <= 1)) {
      return in->Error(absl::StrCat("column 'propensity_score': ", f[prop], " is not in (0, 1]"));
    }
    if (r.item < 0 || (!affinity_cols.empty() && r.item >= static_cast<int64_t>(affinity_cols.size()))) {
      return in->Error(absl::StrCat("column 'item_id': ", f[item], " is not a known item"));
    }
    for (int64_t c : user_cols) r.user_features.push_back(f[c]);
    for (int64_t c : affinity_cols) {
      if (auto s = number(f, c, &v); !s.ok()) return s;
      r.affinity.push_back(v);
    }
    rows.push_back(std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const BanditLogRow& a, const BanditLogRow& b) { return a.timestamp < b.timestamp; });
  return rows;
}

absl::StatusOr<std::vector<BanditItem>> ReadOpenBanditItems(const std::string& path) {
  auto in = LineReader::Open(path);
  if (!in.ok()) return in.status();
  auto read_header = Header(*in);
  if (!read_header.ok()) return read_header.status();
  const std::vector<std::string>& header = *read_header;
  const int64_t id = Column(header, "item_id"), f0 = Column(header, "item_feature_0");
  if (id < 0) return LineError(path, 1, "missing column 'item_id'");
  if (f0 < 0) return LineError(path, 1, "missing column 'item_feature_0'");
  std::vector<BanditItem> items;
  while (in->Next()) {
    auto fields = in->CsvFields(header.size());
    if (!fields.ok()) return fields.status();
    const std::vector<std::string>& f = *fields;
    BanditItem item;
    if (!absl::SimpleAtoi(f[id], &item.item_id) || item.item_id != static_cast<int64_t>(items.size())) {
      return in->Error(absl::StrCat("column 'item_id': expected ", items.size(), ", got '", f[id], "'"));
    }
    if (!absl::SimpleAtod(f[f0], &item.feature0)) {
      return in->Error(absl::StrCat("column 'item_feature_0': not a number '", f[f0], "'"));
    }
    for (size_t c = 0; c < header.size(); ++c) {
      if (static_cast<int64_t>(c) != f0 && absl::StartsWith(header[c], "item_feature_")) {
        item.categories.push_back(f[c]);
      }
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) return in->Error("no items");
  return items;
}

absl::StatusOr<MovieLensData> ReadMovieLens(const std::string& ratings_path, const std::string& movies_path) {
  MovieLensData data;
  std::map<std::string, int64_t> item_index;
  auto movies = LineReader::Open(movies_path);
  if (!movies.ok()) return movies.status();
  while (movies->Next()) {
    auto f = movies->MovieLensFields("movieId,", 3, "movie id, title and genres");
    if (!f.ok()) return f.status();
    if (f->empty()) continue;  // the CSV header
    const std::string& id = (*f)[0];
    if (item_index.count(id)) return movies->Error(absl::StrCat("movie ", id, " twice"));
    item_index[id] = static_cast<int64_t>(data.items.size());
    model::CatalogItem item;
    item.item_id = absl::StrCat("ml-", id);
    item.title = (*f)[1];
    std::vector<std::string> genres = absl::StrSplit((*f)[2], '|', absl::SkipEmpty());
    item.text = absl::StrJoin(genres, " ");
    item.tags = genres;
    data.items.push_back(std::move(item));
  }
  if (data.items.empty()) return movies->Error("no movies");

  auto ratings = LineReader::Open(ratings_path);
  if (!ratings.ok()) return ratings.status();
  std::map<std::string, int64_t> user_index;
  while (ratings->Next()) {
    auto f = ratings->MovieLensFields("userId,", 4, "user, movie, rating and timestamp");
    if (!f.ok()) return f.status();
    if (f->empty()) continue;  // the CSV header
    auto item = item_index.find((*f)[1]);
    if (item == item_index.end()) {
      return ratings->Error(absl::StrCat("movie ", (*f)[1], " is not in ", movies_path));
    }
    Interaction x;
    double rating;
    if (!absl::SimpleAtod((*f)[2], &rating)) {
      return ratings->Error(absl::StrCat("rating: not a number '", (*f)[2], "'"));
    }
    if (!absl::SimpleAtoi((*f)[3], &x.timestamp)) {
      return ratings->Error(absl::StrCat("timestamp: not an integer '", (*f)[3], "'"));
    }
    auto [user, inserted] = user_index.emplace((*f)[0], static_cast<int64_t>(data.users.size()));
    if (inserted) data.users.push_back((*f)[0]);
    x.user = user->second;
    x.item = item->second;
    data.interactions.push_back(x);
  }
  if (data.interactions.empty()) return ratings->Error("no ratings");
  return data;
}

absl::Status WriteMovieLensSample(const std::string& dir, const MovieLensSampleOptions& o) {
  static const char* kGenres[] = {"Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary",
                                  "Drama", "Fantasy", "Horror", "Musical", "Romance", "Sci-Fi"};
  static const char* kWords[][4] = {
      {"Fury", "Strike", "Bullet", "Force"},  {"Quest", "Island", "Voyage", "Jungle"},
      {"Toys", "Bunny", "Dragon", "Kitten"},  {"Wedding", "Roommates", "Vacation", "Prank"},
      {"Heist", "Mob", "Detective", "Alibi"}, {"Planet", "Ocean", "Glacier", "Desert"},
      {"Letters", "Winter", "Family", "River"}, {"Wizard", "Kingdom", "Sword", "Spell"},
      {"Haunting", "Cellar", "Shadow", "Curse"}, {"Broadway", "Melody", "Dance", "Chorus"},
      {"Paris", "Kiss", "Summer", "Heart"},   {"Galaxy", "Android", "Starship", "Mars"}};
  if (o.genres < 2 || o.genres > 12) return absl::InvalidArgumentError("genres: must be in 2..12");
  if (o.movies_per_genre < 2) return absl::InvalidArgumentError("movies_per_genre: must be at least 2");
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> coin(0, 1);
  const int64_t n = o.genres * o.movies_per_genre;
  std::ofstream movies(dir + "/movies.dat");
  if (!movies) return absl::NotFoundError(absl::StrCat("cannot write ", dir, "/movies.dat"));
  for (int64_t m = 0; m < n; ++m) {
    const int64_t g = m / o.movies_per_genre, part = m % o.movies_per_genre;
    const auto& w = kWords[g];
    movies << (m + 1) << "::The " << w[rng() % 4] << " " << w[rng() % 4] << " " << (part + 1) << " ("
           << 1990 + rng() % 30 << ")::" << kGenres[g];
    if (coin(rng) < 0.3) movies << "|" << kGenres[(g + 1 + rng() % (o.genres - 1)) % o.genres];
    movies << "\n";
  }
  std::ofstream ratings(dir + "/ratings.dat");
  if (!ratings) return absl::NotFoundError(absl::StrCat("cannot write ", dir, "/ratings.dat"));
  std::uniform_int_distribution<int64_t> genre(0, o.genres - 1), length(o.min_length, o.max_length),
      start_part(0, std::min<int64_t>(3, o.movies_per_genre - 1)), popular(0, 4), gap(60, 3600), stars(3, 5);
  for (int64_t u = 0; u < o.users; ++u) {
    const int64_t like1 = genre(rng);
    int64_t like2 = genre(rng);
    while (like2 == like1) like2 = genre(rng);
    const int64_t len = std::min(length(rng), n);
    std::set<int64_t> seen;
    int64_t t = 978300000 + static_cast<int64_t>(rng() % 10000000);
    auto random_liked = [&]() { return (coin(rng) < 0.5 ? like1 : like2) * o.movies_per_genre + start_part(rng); };
    int64_t current = random_liked();
    for (int64_t i = 0; i < len; ++i) {
      // Unseen fallback: the next unseen part of a liked genre, then anything.
      for (int64_t tries = 0; seen.count(current) && tries < 4 * n; ++tries) {
        current = tries < 2 * n ? (coin(rng) < 0.5 ? like1 : like2) * o.movies_per_genre +
                                      static_cast<int64_t>(rng() % o.movies_per_genre)
                                : static_cast<int64_t>(rng() % n);
      }
      if (seen.count(current)) break;
      seen.insert(current);
      t += gap(rng);
      ratings << (u + 1) << "::" << (current + 1) << "::" << stars(rng) << "::" << t << "\n";
      const double r = coin(rng);
      const int64_t part = current % o.movies_per_genre;
      if (r < o.next_in_series && part + 1 < o.movies_per_genre) {
        current = current + 1;
      } else if (r < o.next_in_series + o.popular_jump) {
        current = popular(rng) * o.movies_per_genre;  // part 1 of the first genres: the blockbusters
      } else {
        current = random_liked();
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace rtrec::eval

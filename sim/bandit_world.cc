#include "sim/bandit_world.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rtrec::sim {
namespace {

struct Topic {
  const char* name;
  std::vector<const char*> words;
};

// Words in the BERT uncased vocabulary, so each is one or two WordPiece
// tokens; a topic's words say what the item is about.
const std::vector<Topic>& Topics() {
  static const auto* topics = new std::vector<Topic>{
      {"coffee", {"espresso", "roast", "arabica", "latte", "brew", "grinder", "mocha", "beans"}},
      {"tea", {"green", "oolong", "matcha", "herbal", "kettle", "leaves", "chai", "jasmine"}},
      {"running", {"marathon", "sneakers", "trail", "sprint", "jogging", "pace", "shoes", "stride"}},
      {"cycling", {"bicycle", "pedal", "helmet", "saddle", "gears", "wheel", "chain", "road"}},
      {"jazz", {"saxophone", "trumpet", "swing", "blues", "piano", "improvisation", "quartet", "bebop"}},
      {"rock", {"guitar", "drums", "amplifier", "punk", "metal", "riff", "band", "concert"}},
      {"baking", {"bread", "flour", "oven", "dough", "pastry", "yeast", "cake", "butter"}},
      {"garden", {"seeds", "soil", "flowers", "shovel", "compost", "roses", "hose", "lawn"}},
      {"camping", {"tent", "lantern", "backpack", "sleeping", "campfire", "compass", "hiking", "forest"}},
      {"chess", {"board", "knight", "bishop", "rook", "pawn", "opening", "tactics", "endgame"}},
      {"photo", {"camera", "lens", "tripod", "shutter", "portrait", "flash", "zoom", "film"}},
      {"yoga", {"mat", "stretch", "breathing", "meditation", "pose", "balance", "calm", "studio"}},
      {"painting", {"canvas", "brush", "acrylic", "easel", "palette", "watercolor", "sketch", "oil"}},
      {"fishing", {"rod", "reel", "bait", "hook", "lake", "boat", "trout", "net"}},
      {"gaming", {"console", "controller", "arcade", "puzzle", "quest", "multiplayer", "joystick", "level"}},
      {"skincare", {"cream", "lotion", "serum", "cleanser", "moisture", "sunscreen", "mask", "soap"}},
  };
  return *topics;
}

const std::vector<const char*>& Filler() {
  static const auto* words = new std::vector<const char*>{
      "classic", "deluxe", "new", "premium", "set", "kit", "edition", "pack", "large", "small",
      "gift", "daily", "pro", "basic", "bundle", "original", "compact", "home", "travel", "mini"};
  return *words;
}

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x;
}

}  // namespace

BanditWorld::BanditWorld(const BanditWorldOptions& options) : options_(options) {
  const auto& topics = Topics();
  options_.num_topics = std::min<int64_t>(options_.num_topics, static_cast<int64_t>(topics.size()));
  options_.candidates = std::min(options_.candidates, options_.num_items);
  std::mt19937_64 rng(Mix(options_.seed, 1));
  std::uniform_real_distribution<double> quality(1 - options_.quality_spread, 1 + options_.quality_spread);
  for (int64_t i = 0; i < options_.num_items; ++i) {
    const int64_t t = i % options_.num_topics;
    const Topic& topic = topics[t];
    std::vector<std::string> words;
    for (int64_t w = 0; w < options_.words_per_item; ++w) {
      if (w < options_.topic_words) {
        words.push_back(topic.words[rng() % topic.words.size()]);
      } else {
        words.push_back(Filler()[rng() % Filler().size()]);
      }
    }
    std::shuffle(words.begin(), words.end(), rng);
    model::CatalogItem item;
    item.item_id = absl::StrCat("bw-", i);
    item.title = absl::StrCat(words[0], " ", words[1]);
    item.text = absl::StrJoin(words.begin() + 2, words.end(), " ");
    item.tags = {topic.name};
    items_.push_back(std::move(item));
    topic_.push_back(t);
    quality_.push_back(quality(rng));
  }
  auto two_topics = [&](int64_t avoid_a, int64_t avoid_b) {
    std::array<int64_t, 2> out{};
    do {
      out[0] = static_cast<int64_t>(rng() % options_.num_topics);
    } while (out[0] == avoid_a || out[0] == avoid_b);
    do {
      out[1] = static_cast<int64_t>(rng() % options_.num_topics);
    } while (out[1] == out[0] || out[1] == avoid_a || out[1] == avoid_b);
    return out;
  };
  std::uniform_real_distribution<double> coin(0, 1);
  for (int64_t u = 0; u < options_.num_users; ++u) {
    liked_before_.push_back(two_topics(-1, -1));
    const bool shift = coin(rng) < options_.shift_share;
    shifts_.push_back(shift ? 1 : 0);
    liked_after_.push_back(shift ? two_topics(liked_before_[u][0], liked_before_[u][1]) : liked_before_[u]);
  }
}

BanditRequest BanditWorld::Request(int64_t r) const {
  std::mt19937_64 rng(Mix(options_.seed, 1000003 + static_cast<uint64_t>(r)));
  BanditRequest req;
  req.index = r;
  req.user = static_cast<int64_t>(rng() % static_cast<uint64_t>(options_.num_users));
  std::vector<int64_t> all(options_.num_items);
  std::iota(all.begin(), all.end(), 0);
  // Partial Fisher-Yates: the first `candidates` entries.
  for (int64_t i = 0; i < options_.candidates; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, options_.num_items - 1);
    std::swap(all[i], all[pick(rng)]);
  }
  req.candidates.assign(all.begin(), all.begin() + options_.candidates);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (int64_t p = 0; p < options_.k; ++p) req.click_uniform.push_back(uniform(rng));
  return req;
}

double BanditWorld::Like(int64_t r, int64_t user, int64_t topic) const {
  const bool after = options_.shift_at >= 0 && r >= options_.shift_at;
  const auto& liked = after ? liked_after_[user] : liked_before_[user];
  if (topic == liked[0]) return 1.0;
  if (topic == liked[1]) return options_.second_like;
  return 0.0;
}

double BanditWorld::ClickProbability(int64_t r, int64_t user, int64_t item, int64_t position) const {
  double bias = 1.0;
  for (int64_t p = 0; p < position; ++p) bias *= options_.position_bias;
  return std::min(1.0, bias * quality_[item] *
                           (options_.base_ctr + options_.like_ctr * Like(r, user, topic_[item])));
}

double BanditWorld::ExpectedSlateRate(const BanditRequest& request,
                                      const std::vector<int64_t>& slate) const {
  if (slate.empty()) return 0.0;
  double sum = 0;
  for (size_t p = 0; p < slate.size(); ++p) {
    sum += ClickProbability(request.index, request.user, slate[p], static_cast<int64_t>(p));
  }
  return sum / static_cast<double>(options_.k);
}

std::vector<int64_t> BanditWorld::OracleSlate(const BanditRequest& request) const {
  std::vector<int64_t> order = request.candidates;
  auto value = [&](int64_t i) { return ClickProbability(request.index, request.user, i, 0); };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return value(a) > value(b); });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(options_.k)));
  return order;
}

double BanditWorld::UniformRate(const BanditRequest& request) const {
  double mean_value = 0;
  for (int64_t i : request.candidates) mean_value += ClickProbability(request.index, request.user, i, 0);
  mean_value /= static_cast<double>(request.candidates.size());
  double bias_sum = 0, bias = 1;
  const int64_t k = std::min<int64_t>(options_.k, static_cast<int64_t>(request.candidates.size()));
  for (int64_t p = 0; p < k; ++p, bias *= options_.position_bias) bias_sum += bias;
  return mean_value * bias_sum / static_cast<double>(options_.k);
}

}  // namespace rtrec::sim

#include "sim/synthetic_world.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rtrec::sim {
namespace {

// Eight topic vocabularies; topic t uses kVocabularies[t % 8].
const std::vector<std::vector<std::string>>& Vocabularies() {
  static const auto* v = new std::vector<std::vector<std::string>>{
      {"jazz", "saxophone", "trumpet", "swing", "bebop", "quartet", "blues", "piano"},
      {"football", "goal", "striker", "league", "stadium", "match", "keeper", "penalty"},
      {"pasta", "tomato", "basil", "garlic", "olive", "oven", "sauce", "cheese"},
      {"galaxy", "telescope", "planet", "orbit", "nebula", "comet", "star", "rocket"},
      {"garden", "tulip", "soil", "seed", "compost", "rose", "hedge", "flower"},
      {"laptop", "keyboard", "processor", "memory", "screen", "battery", "software", "chip"},
      {"mountain", "trail", "hiking", "summit", "tent", "boots", "ridge", "valley"},
      {"novel", "poetry", "author", "chapter", "library", "fiction", "verse", "ink"},
  };
  return *v;
}

}  // namespace

SyntheticWorld::SyntheticWorld(const SyntheticWorldOptions& options) : options_(options) {
  std::mt19937_64 rng(options.seed);
  const int64_t n = options.num_topics * options.items_per_topic;
  std::uniform_real_distribution<double> quality(1 - options.quality_spread, 1 + options.quality_spread);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t topic = i % options.num_topics;
    const auto& vocab = Vocabularies()[topic % Vocabularies().size()];
    std::uniform_int_distribution<size_t> word(0, vocab.size() - 1);
    std::vector<std::string> words;
    for (int w = 0; w < 6; ++w) words.push_back(vocab[word(rng)]);
    model::CatalogItem item;
    item.item_id = absl::StrCat("t", topic, "-", i / options.num_topics);
    item.title = absl::StrCat(vocab[word(rng)], " ", vocab[word(rng)]);
    item.text = absl::StrJoin(words, " ");
    items_.push_back(std::move(item));
    quality_.push_back(quality(rng));
  }
  std::uniform_int_distribution<int64_t> topic(0, options.num_topics - 1);
  for (int64_t u = 0; u < options.num_users; ++u) primary_.push_back(topic(rng));
}

double SyntheticWorld::ClickProbability(int64_t user, int64_t item, int64_t position) const {
  const double rest = options_.num_topics > 1
                          ? (1 - options_.primary_weight) / static_cast<double>(options_.num_topics - 1)
                          : 0.0;
  const double taste = topic_of_item(item) == primary_[user] ? options_.primary_weight : rest;
  double p = (options_.base_ctr + options_.taste_ctr * taste) * quality_[item];
  for (int64_t i = 0; i < position; ++i) p *= options_.position_bias;
  return std::min(1.0, p);
}

double SyntheticWorld::UniformClickRate(int64_t user, int64_t k) const {
  // Every item is equally likely at every position.
  const int64_t n = static_cast<int64_t>(items_.size());
  double total = 0;
  for (int64_t pos = 0; pos < k; ++pos) {
    for (int64_t i = 0; i < n; ++i) total += ClickProbability(user, i, pos) / n;
  }
  return total / k;
}

double SyntheticWorld::OracleClickRate(int64_t user, int64_t k) const {
  std::vector<double> p;
  for (int64_t i = 0; i < static_cast<int64_t>(items_.size()); ++i) p.push_back(ClickProbability(user, i, 0));
  std::sort(p.begin(), p.end(), std::greater<double>());
  double total = 0, bias = 1;
  for (int64_t pos = 0; pos < k && pos < static_cast<int64_t>(p.size()); ++pos) {
    total += p[pos] * bias;
    bias *= options_.position_bias;
  }
  return total / k;
}

std::vector<int64_t> SyntheticWorld::SeedHistory(int64_t user, int64_t n, std::mt19937_64& rng) const {
  std::uniform_int_distribution<int64_t> pick(0, options_.items_per_topic - 1);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(pick(rng) * options_.num_topics + primary_[user]);
  return out;
}

void SyntheticWorld::ShiftTastes(int64_t offset) {
  for (auto& t : primary_) t = (t + offset) % options_.num_topics;
}

}  // namespace rtrec::sim

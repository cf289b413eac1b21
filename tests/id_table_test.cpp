// id_table (flood_link's owed advertisements): the same answers as
// std::unordered_map under any mix of insertions and erasures, through
// growth and shrinking, with ids that collide in the table.

#include <catch2/catch.hpp>

#include <random>
#include <unordered_map>

#include "quilt/id_table.hpp"

using quilt::id_table;
using quilt::node_id;

TEST_CASE("id_table agrees with unordered_map through growth, erasure "
          "and shrinking", "[flooding][id_table]") {
  for (uint32_t range : {8u, 100u, 5000u}) {
    INFO("ids below " << range);
    std::mt19937 rng{range};
    id_table<uint64_t> t;
    std::unordered_map<node_id, uint64_t> ref;
    for (int step = 0; step < 200000; ++step) {
      node_id k = rng() % range;
      // Phases that fill and then drain the table, so that it shrinks.
      bool filling = (step / 20000) % 2 == 0;
      auto op = rng() % 10;
      if (op < (filling ? 6u : 2u)) {
        t[k] = step;
        ref[k] = step;
      } else if (op < 9) {
        t.erase(k);
        ref.erase(k);
      } else {
        auto v = t.find(k);
        auto i = ref.find(k);
        REQUIRE((v != nullptr) == (i != ref.end()));
        if (v)
          REQUIRE(*v == i->second);
      }
      REQUIRE(t.size() == ref.size());
    }
    for (node_id k = 0; k < range; ++k) {
      auto v = t.find(k);
      auto i = ref.find(k);
      REQUIRE((v != nullptr) == (i != ref.end()));
      if (v)
        CHECK(*v == i->second);
    }
    t.clear();
    CHECK(t.empty());
    CHECK(t.find(0) == nullptr);
  }
}

TEST_CASE("id_table: a value inserted by [] starts value-initialised",
          "[flooding][id_table]") {
  id_table<uint64_t> t;
  t[7] = 3;
  t.erase(7);
  CHECK(t[7] == 0);
  CHECK(t.size() == 1);
}

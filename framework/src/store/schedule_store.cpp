// The schedule side of the state store: the helpers of schedule_apply.hpp and the schedule queries.

#include "schedule_apply.hpp"

#include <boost/json.hpp>

namespace kiln {

namespace json = boost::json;

namespace schedule_apply {

std::string fire_prefix(const std::string& name) { return name + '\0'; }

std::string fire_key(const std::string& name, std::int64_t slot, std::int64_t version) {
  return fire_prefix(name) + key_of(slot) + key_of(version);
}

std::string serialize(const schedule_record& s) { return json::serialize(to_json(s)); }

std::optional<std::int64_t> fire_time(std::string_view record) {
  json::error_code ec;
  const auto v = json::parse(record, ec);
  const auto* t = !ec && v.is_object() ? v.as_object().if_contains("time") : nullptr;
  if (!t || !t->is_int64()) return std::nullopt;
  return t->as_int64();
}

std::string serialize_fire(const std::string& outcome, std::int64_t time, std::int64_t execution_id, bool manual) {
  return json::serialize(
      json::object{{"outcome", outcome}, {"time", time}, {"execution_id", execution_id}, {"manual", manual}});
}

expected<schedule_record> load(const impl& s, const std::string& name) {
  auto text = s.get(impl::schedules, name);
  if (!text) return fail(errc::not_found, fmt::format("no schedule named '{}'", name));
  json::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec) return fail(errc::storage, fmt::format("schedule '{}' is corrupt: {}", name, ec.message()));
  return schedule_from_json(v);
}

expected<void> check_definition(const schedule_record& s, const char* what) {
  if (s.name.empty() || s.name.find('\0') != std::string::npos) {
    return fail(errc::bad_command, fmt::format("{}: the schedule name must be non-empty text", what));
  }
  if (s.job.empty()) return fail(errc::bad_command, fmt::format("{}: schedule '{}' names no job", what, s.name));
  return {};
}

std::vector<std::string> fire_keys(const impl& s, const std::string& name) {
  std::vector<std::string> out;
  const auto prefix = fire_prefix(name);
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.cf[impl::fires].get()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) out.push_back(it->key().ToString());
  return out;
}

}  // namespace schedule_apply

std::vector<schedule_record> state_store::schedules() const {
  std::vector<schedule_record> out;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf[impl::schedules].get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    json::error_code ec;
    auto v = json::parse(it->value().ToStringView(), ec);
    if (ec) continue;
    if (auto r = schedule_from_json(v)) out.push_back(std::move(*r));
  }
  return out;
}

expected<schedule_record> state_store::schedule(const std::string& name) const {
  return schedule_apply::load(*impl_, name);
}

std::int64_t state_store::fire_records_before(std::int64_t time) const {
  std::int64_t n = 0;
  schedule_apply::fires_before(*impl_, time, [&n](const std::string&) {
    ++n;
    return true;
  });
  return n;
}

std::optional<std::string> state_store::fire_outcome_of(const std::string& schedule, std::int64_t slot,
                                                        std::int64_t version) const {
  auto text = impl_->get(impl::fires, schedule_apply::fire_key(schedule, slot, version));
  if (!text) return std::nullopt;
  json::error_code ec;
  auto v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* o = v.as_object().if_contains("outcome");
  if (!o || !o->is_string()) return std::nullopt;
  return std::string(o->as_string());
}

}  // namespace kiln

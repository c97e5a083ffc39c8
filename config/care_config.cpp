// The care: and meals: sections of the site config (visit tiers, reminders, meal sessions and
// subsidy categories); see config/README.md.
#include "config/config_reader.hpp"

namespace caregate::config::detail {

namespace {
const std::vector<std::string>& care_tiers() {
    static const std::vector<std::string> t = {"weekly", "fortnightly", "monthly", "quarterly"};
    return t;
}

// The categories a rule may name: the roster's (一人一档) and 高龄.
void check_categories(MapReader& r, const std::string& key, const std::vector<std::string>& cats) {
    static const std::vector<std::string> known = {"独居",     "空巢", "留守", "失能", "重残",
                                                   "计生特殊", "低保", "特困", "高龄"};
    for (auto& c : cats)
        if (std::find(known.begin(), known.end(), c) == known.end())
            r.fail_here(
                key,
                "'" + c + "' is not a roster category; use 独居 空巢 留守 失能 重残 计生特殊 低保 特困 高龄");
}

}  // namespace

void parse_care(MapReader& top, SiteConfig& c) {
    auto r = top.child("care");
    auto& k = c.care;
    r.get("old_age", k.old_age);
    r.get("absence_days", k.absence_days);
    r.get("pattern_days", k.pattern_days);
    r.get("expected_share", k.expected_share);
    r.get("min_attended_days", k.min_attended_days);
    r.get("arrival_grace_min", k.arrival_grace_min);
    r.get("drop_ratio", k.drop_ratio);
    r.get("remind_hour", k.remind_hour);
    check_range(r, "old_age", k.old_age, 60, 120);
    check_range(r, "absence_days", k.absence_days, 1, 30);
    check_range(r, "pattern_days", k.pattern_days, 14, 366);
    check_range(r, "expected_share", k.expected_share, 0.1, 1.0);
    check_range(r, "min_attended_days", k.min_attended_days, 1, 366);
    check_range(r, "arrival_grace_min", k.arrival_grace_min, 0, 720);
    check_range(r, "drop_ratio", k.drop_ratio, 0.0, 1.0);
    check_range(r, "remind_hour", k.remind_hour, 0, 23);
    if (r.has("visit_after")) k.visit_after = string_list(r, "visit_after", "a life event (出院, 丧偶, …)");
    k.remind_channels = string_list(r, "remind_channels", "a channel id under notify.channels");
    for (auto& id : k.remind_channels) {
        auto* ch = c.notify.find_channel(id);
        if (!ch) r.fail_here("remind_channels", "channel '" + id + "' is not defined under notify.channels");
        if (ch->type == "speaker" || ch->type == "voice")
            r.fail_here("remind_channels", "channel '" + id + "' is a " + ch->type +
                                               "; a reminder is a text: use sms, wecom, dingtalk or webhook");
    }
    if (r.has("tiers")) {
        r.each("tiers", [&](MapReader& t, size_t) {
            CareTierRule rule;
            t.get("tier", rule.tier, true);
            check_one_of(t, "tier", rule.tier, care_tiers());
            rule.all = string_list(t, "all", "a roster category");
            rule.any = string_list(t, "any", "a roster category");
            check_categories(t, "all", rule.all);
            check_categories(t, "any", rule.any);
            if (rule.all.empty() && rule.any.empty())
                t.fail_here("tier",
                            "a rule needs all: or any: (an elder with no category is not on the list)");
            k.tiers.push_back(rule);
        });
    } else {
        // Seed 001: the special-difficulty elders (独居 空巢 留守 失能 重残 计生特殊), the most at risk
        // most often; 失能 at least monthly in person.
        k.tiers = {{"weekly", {"独居"}, {"失能", "重残", "高龄"}},
                   {"fortnightly", {}, {"独居", "失能", "重残"}},
                   {"monthly", {}, {"空巢", "留守", "计生特殊", "特困"}},
                   {"quarterly", {}, {"低保", "高龄"}}};
    }
    r.finish();
}

void parse_meals(MapReader& top, SiteConfig& c) {
    auto r = top.child("meals");
    auto& m = c.meals;
    r.each("sessions", [&](MapReader& s, size_t) {
        MealSession ms;
        std::string from, to;
        s.get("id", ms.id, true);
        s.get("name", ms.name, true);
        s.get("from", from, true);
        s.get("to", to, true);
        ms.start_min = parse_hhmm(s, "from", from);
        ms.end_min = parse_hhmm(s, "to", to);
        if (ms.end_min <= ms.start_min) s.fail_here("to", "must be later than from");
        for (auto& o : m.sessions) {
            if (o.id == ms.id) s.fail_here("id", "'" + ms.id + "' is used twice");
            if (ms.start_min < o.end_min && o.start_min < ms.end_min)
                s.fail_here("from", "overlaps the session '" + o.id + "'");
        }
        m.sessions.push_back(ms);
    });
    if (m.sessions.empty())
        m.sessions = {{"lunch", "午餐", 10 * 60 + 30, 13 * 60 + 30},
                      {"dinner", "晚餐", 16 * 60 + 30, 19 * 60}};
    r.each("categories", [&](MapReader& s, size_t) {
        MealCategory mc;
        s.get("id", mc.id, true);
        s.get("name", mc.name, true);
        s.get("pays", mc.pays, true);
        s.get("subsidy", mc.subsidy, true);
        s.get("min_age", mc.min_age);
        mc.any = string_list(s, "any", "a roster category");
        check_categories(s, "any", mc.any);
        check_range(s, "pays", mc.pays, 0, 1000);
        check_range(s, "subsidy", mc.subsidy, 0, 1000);
        check_range(s, "min_age", mc.min_age, 0, 120);
        for (auto& o : m.categories)
            if (o.id == mc.id) s.fail_here("id", "'" + mc.id + "' is used twice");
        m.categories.push_back(mc);
    });
    if (m.categories.empty())
        m.categories = {{"dibao", "低保/特困", 0, 15, {"低保", "特困"}, 0},
                        {"over80", "80岁以上", 5, 10, {}, 80},
                        {"standard", "标准", 12, 3, {}, 0}};
    r.finish();
}

}  // namespace caregate::config::detail

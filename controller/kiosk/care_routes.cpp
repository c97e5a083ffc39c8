// The kiosk's care pages: 今日待探访 / 本周逾期 / 缺勤关怀 (the worklist), an elder's care profile
// (tier, visitor, meal category, diets), life events and absence reasons, the month's visit coverage,
// and 助餐 (the day's sessions, a meal by tap or card, the menu, the month's statement).
#include <httplib.h>

#include "controller/care/calendar.hpp"
#include "controller/care/meals.hpp"
#include "controller/care/planner.hpp"
#include "controller/kiosk/api.hpp"
#include "controller/kiosk/kiosk.hpp"

namespace caregate {

using nlohmann::json;
using namespace api;

void Kiosk::care_routes(httplib::Server& s) {
    if (!p_.care || !p_.meals) return;
    auto& planner = *p_.care;
    auto& meals = *p_.meals;
    // A day from ?date= (default today); throws std::invalid_argument.
    auto day_param = [&planner](const httplib::Request& req) {
        return req.has_param("date") ? care::parse_date(req.get_param_value("date")) : planner.today();
    };
    // Runs a handler body, turning a refused input into 400 and a refused meal into 409.
    auto guard = [](httplib::Response& res, const std::function<void()>& fn) {
        try {
            fn();
        } catch (const care::MealRefused& e) {
            fail(res, 409, e, Msg::meal_refused);
        } catch (const std::invalid_argument& e) {
            fail(res, 400, e, Msg::bad_field);
        }
    };

    // A write about one elder (/api/elders/<id>/…): a session with its CSRF token, the elder's id from
    // the path and a JSON body, then fn(staff user name, elder id, body) under guard.
    using ElderWrite =
        std::function<void(const std::string&, int64_t, const nlohmann::json&, httplib::Response&)>;
    auto elder_write = [this, guard](ElderWrite fn) {
        return [this, guard, fn](const httplib::Request& req, httplib::Response& res) {
            auto sess = writer(req, res);
            if (!sess) return;
            auto id = path_id(req.matches[1]);
            if (!id) return fail(res, 404, Msg::no_such_elder);
            auto j = body(req, res);
            if (!j) return;
            guard(res, [&] { fn(sess->who.username, *id, *j, res); });
        };
    };

    s.Get("/api/care/worklist",
          [this, &planner, day_param, guard](const httplib::Request& req, httplib::Response& res) {
              auto sess = reader(req, res);
              if (!sess) return;
              guard(res, [&] {
                  int day = day_param(req);
                  bool mine = req.get_param_value("mine") == "1";
                  json tasks = json::array();
                  std::map<std::string, int> counts = {
                      {"visit_due", 0}, {"visit_overdue", 0}, {"life_event", 0}, {"absence", 0}};
                  for (auto& t : planner.worklist(day)) {
                      if (mine && t.visitor != sess->who.username && t.visitor != sess->who.display_name)
                          continue;
                      counts[t.task]++;
                      tasks.push_back(care::to_json(t));
                  }
                  reply(res, {{"date", care::date_text(day)}, {"tasks", tasks}, {"counts", counts}});
              });
          });
    s.Get("/api/care/coverage", [this, &planner, guard](const httplib::Request& req, httplib::Response& res) {
        if (!reader(req, res)) return;
        guard(res, [&] {
            std::string month =
                req.has_param("month") ? req.get_param_value("month") : care::month_text(planner.today());
            reply(res, planner.coverage(month));
        });
    });
    s.Post("/api/care/misses", [this, &planner, guard](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        guard(res, [&] {
            auto id = int_field(*j, "elder_id", 1, INT64_MAX);
            if (!id) throw std::invalid_argument("请选择老人");
            planner.record_miss(*id, str_field(*j, "month"), str_field(*j, "reason"), sess->who.username);
            reply(res, {{"ok", true}}, 201);
        });
    });

    s.Get(R"(/api/elders/(\d+)/care)",
          [this, &planner, guard](const httplib::Request& req, httplib::Response& res) {
              if (!reader(req, res)) return;
              auto id = path_id(req.matches[1]);
              if (!id) return fail(res, 404, Msg::no_such_elder);
              guard(res, [&] {
                  auto p = planner.profile(*id);
                  json cats = json::array();
                  for (auto& c : p_.cfg.meals.categories) cats.push_back({{"id", c.id}, {"name", c.name}});
                  reply(res, {{"elder_id", p.elder_id},
                              {"tier", p.tier},
                              {"tier_name", care::tier_name(p.tier)},
                              {"tier_override", p.tier_override},
                              {"rule_tier", p.rule_tier},
                              {"rule_tier_name", care::tier_name(p.rule_tier)},
                              {"visitor", p.visitor},
                              {"meal_category", p.meal_category},
                              {"diets", p.diets},
                              {"life_events", planner.life_events(*id)},
                              {"life_event_kinds", care::life_event_kinds()},
                              {"absence_reasons", care::absence_reason_kinds()},
                              {"meal_categories", cats}});
              });
          });
    s.Put(R"(/api/elders/(\d+)/care)",
          elder_write([&planner](const std::string& who, int64_t id, const json& j, httplib::Response& res) {
              auto p = planner.save_profile(id, j, who);
              reply(res, {{"tier", p.tier},
                          {"visitor", p.visitor},
                          {"meal_category", p.meal_category},
                          {"diets", p.diets}});
          }));
    s.Post(R"(/api/elders/(\d+)/life-events)",
           elder_write([&planner](const std::string& who, int64_t id, const json& j, httplib::Response& res) {
               std::string day = str_field(j, "day", care::date_text(planner.today()));
               reply(
                   res,
                   {{"id", planner.add_life_event(id, day, str_field(j, "kind"), str_field(j, "note"), who)}},
                   201);
           }));
    s.Post(R"(/api/elders/(\d+)/absences)",
           elder_write([&planner](const std::string& who, int64_t id, const json& j, httplib::Response& res) {
               std::string today = care::date_text(planner.today());
               reply(res,
                     {{"id",
                       planner.add_absence_reason(id, str_field(j, "from", today), str_field(j, "to", today),
                                                  str_field(j, "reason"), str_field(j, "note"), who)}},
                     201);
           }));

    s.Get("/api/meals",
          [this, &meals, day_param, guard](const httplib::Request& req, httplib::Response& res) {
              if (!reader(req, res)) return;
              guard(res, [&] { reply(res, meals.day_view(day_param(req))); });
          });
    // A meal by a staff tap (elder_id) or a card number (card_no); the same meal twice is answered
    // with the first one ("already": true), never a second row.
    s.Post("/api/meals", [this, &meals, guard](const httplib::Request& req, httplib::Response& res) {
        auto sess = writer(req, res);
        if (!sess) return;
        auto j = body(req, res);
        if (!j) return;
        guard(res, [&] {
            std::string session = str_field(*j, "session");
            care::Meal m;
            if (j->contains("card_no")) {
                m = meals.take_by_card(str_field(*j, "card_no"), sess->who.display_name, session);
            } else {
                auto id = int_field(*j, "elder_id", 1, INT64_MAX);
                if (!id) throw std::invalid_argument(text_of(Msg::elder_or_card_required));
                m = meals.take(*id, "staff", sess->who.display_name, session);
            }
            reply(res, care::to_json(m), m.already ? 200 : 201);
        });
    });
    s.Put("/api/meals/menu",
          [this, &meals, &planner, guard](const httplib::Request& req, httplib::Response& res) {
              auto sess = writer(req, res);
              if (!sess) return;
              auto j = body(req, res);
              if (!j) return;
              guard(res, [&] {
                  std::string date = str_field(*j, "date", care::date_text(planner.today()));
                  meals.set_menu(care::parse_date(date), str_field(*j, "session"), str_field(*j, "dishes"),
                                 sess->who.username);
                  reply(res, {{"ok", true}});
              });
          });
    s.Get("/api/meals/statement", [this, &meals, &planner, guard](const httplib::Request& req,
                                                                  httplib::Response& res) {
        if (!reader(req, res)) return;
        guard(res, [&] {
            std::string month =
                req.has_param("month") ? req.get_param_value("month") : care::month_text(planner.today());
            if (req.get_param_value("format") == "csv") {
                res.set_header("Content-Disposition", "attachment; filename=\"meals-" + month + ".csv\"");
                res.set_header("Cache-Control", "no-store");
                // With a BOM, so that Excel opens the Chinese text as UTF-8.
                res.set_content("\xEF\xBB\xBF" + meals.statement_csv(month), "text/csv; charset=utf-8");
                return;
            }
            reply(res, meals.statement(month));
        });
    });
}

}  // namespace caregate

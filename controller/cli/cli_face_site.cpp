// `caregate face calibrate` and `caregate face renewals`: a site checks its own gallery — how close
// its elders come to each other (the threshold it can afford) and whose templates should be taken
// again. Both read the encrypted templates on the box; nothing leaves it.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "controller/cli/cli_commands.hpp"
#include "controller/core/clock.hpp"
#include "controller/people/face_templates.hpp"
#include "controller/people/roster.hpp"
#include "vision/face_calibration.hpp"
#include "vision/face_engine.hpp"

namespace caregate {

namespace {
double site_threshold(const config::Face& f) {
    return vision::recognition_threshold(f.recognition_model, f.threshold);
}
std::string two(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return b;
}

// Whether scoring against the site's own elders (T-norm) would name more of them than the plain
// distance at the same false-accept rate, measured on the gallery itself.
void print_cohort(const std::optional<vision::CohortNormalisation>& cohort, double far) {
    if (!cohort) {
        std::cout
            << "score normalisation (T-norm) not measured: it needs 4 elders, one of them with 2 templates\n";
        return;
    }
    const vision::CohortNormalisation& n = *cohort;
    auto share = [&](size_t k) {
        char b[32];
        std::snprintf(b, sizeof b, "%.1f %%", 100.0 * double(k) / double(n.genuine_trials));
        return std::string(b);
    };
    std::cout << "score normalisation (T-norm) against the site's own elders, each left out in turn as a "
                 "stranger ("
              << n.stranger_trials << " stranger trials, at most " << n.strangers_allowed
              << " accepted for FAR " << far << "):\n"
              << "  plain distance: names " << n.plain_named << " of " << n.genuine_trials << " ("
              << share(n.plain_named) << "), " << n.plain_wrong << " as another elder; "
              << (std::isfinite(n.plain_threshold) ? "accepting below distance " + two(n.plain_threshold)
                                                   : std::string("accepting every clear best match"))
              << "\n"
              << "  T-norm:         names " << n.tnorm_named << " of " << n.genuine_trials << " ("
              << share(n.tnorm_named) << "), " << n.tnorm_wrong << " as another elder; "
              << (std::isfinite(n.tnorm_min_z) ? "accepting z above " + two(n.tnorm_min_z)
                                               : std::string("accepting every clear best match"))
              << "\n";
    if (n.helps)
        std::cout
            << "  T-norm would name more of this site's elders; the door does not use it (it scores by the "
               "plain distance): enroll the elders the door does not name again, with sharper photos "
               "(caregate face renewals lists them)\n";
    else
        std::cout << "  T-norm does not help here: the plain distance is kept\n";
}
}  // namespace

void register_face_site_commands(CLI::App& face, CommandContext& ctx) {
    struct Opts {
        double far = 1e-3;
        std::string json_out;
    };
    auto o = std::make_shared<Opts>();
    auto* cal = face.add_subcommand(
        "calibrate",
        "distances among this site's enrolled elders: look-alikes, and the threshold for a target FAR");
    cal->add_option("--config,-c", ctx.config_path)->required();
    cal->add_option("--far", o->far, "target false-accept rate among the site's elders")
        ->capture_default_str();
    cal->add_option("--json", o->json_out, "also write the full report as JSON here");
    cal->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            TemplateStore templates(site.store, clock, FaceKey::load(site.cfg.face.key_file));
            Roster roster(site.store, clock);
            std::string model = vision::recognition_model_id(site.cfg.face.recognition_model);
            std::vector<vision::CalibrationTemplate> t;
            for (auto& s : templates.load_all(model)) t.push_back({s.elder_id, std::move(s.descriptor)});
            auto c = vision::calibrate_site(t, site_threshold(site.cfg.face), site.cfg.face.margin, o->far);
            auto name = [&](int64_t id) {
                auto e = roster.get(id);
                return (e ? e->name : std::string("?")) + "（" + std::to_string(id) + "）";
            };
            auto j = vision::to_json(c);
            j["model"] = model;
            for (auto& l : j["closest"]) {
                l["name_a"] = name(l["elder_a"].get<int64_t>());
                l["name_b"] = name(l["elder_b"].get<int64_t>());
            }
            if (!o->json_out.empty()) {
                std::ofstream f(o->json_out);
                if (!f) throw std::runtime_error(o->json_out + ": cannot write");
                f << j.dump(2) << "\n";
            }
            std::cout << "model " << model << ": " << c.elders << " elders, " << c.templates << " templates, "
                      << c.impostor_pairs << " pairs of different elders\n";
            if (c.pairs.genuine.count)
                std::cout << "same elder:      median " << two(c.pairs.genuine.median) << ", max "
                          << two(c.pairs.genuine.max) << " (" << c.pairs.genuine.count << " pairs)\n";
            if (c.pairs.impostor.count)
                std::cout << "different elders: min " << two(c.pairs.impostor.min) << ", p5 "
                          << two(c.pairs.impostor.p5) << ", median " << two(c.pairs.impostor.median) << "\n";
            std::cout << "configured threshold " << two(c.configured_threshold) << " accepts "
                      << c.accepted_at_configured << " of " << c.impostor_pairs
                      << " pairs of different elders\n";
            if (!c.closest.empty()) std::cout << "closest look-alikes:\n";
            for (auto& l : c.closest)
                std::cout << "  " << two(l.distance) << "  " << name(l.elder_a) << " ~ " << name(l.elder_b)
                          << (l.same_person_likely ? "  <- 同一人重复登记或双胞胎？请核对"
                              : l.distance <= c.configured_threshold ? "  <- within the threshold"
                                                                     : "")
                          << "\n";
            if (c.below_floor)
                std::cout
                    << c.below_floor << " pair(s) closer than the site's median same-elder distance ("
                    << two(*c.duplicate_floor)
                    << ") are left out of the proposal: if they are one person, delete the extra record; "
                       "twins are not named at the door when both are enrolled (the margin), check them in "
                       "by card\n";
            if (c.proposed_threshold) {
                std::cout << "proposed face.threshold " << two(*c.proposed_threshold) << " for FAR " << o->far
                          << " (" << c.basis << ")\n";
                if (c.genuine_refused_at_proposal)
                    std::cout << "at the proposal " << two(100 * *c.genuine_refused_at_proposal)
                              << " % of the site's same-elder pairs would be refused\n";
                if (*c.proposed_threshold < c.configured_threshold)
                    std::cout
                        << "set face.threshold: " << two(*c.proposed_threshold)
                        << " in the site config and restart, or enroll the look-alikes with more photos\n";
            } else {
                std::cout << c.basis << "\n";
            }
            print_cohort(c.cohort, o->far);
            return 0;
        });
    });

    auto* ren = face.add_subcommand(
        "renewals",
        "elders whose face templates should be taken again (over a year old, or distances rising)");
    ren->add_option("--config,-c", ctx.config_path)->required();
    ren->callback([&ctx] {
        guarded(ctx, [&]() -> int {
            OpenSite site(ctx.config_path);
            SystemClock clock;
            TemplateStore templates(site.store, clock, FaceKey::load(site.cfg.face.key_file));
            for (auto& r : templates.renewals(vision::recognition_model_id(site.cfg.face.recognition_model),
                                              site_threshold(site.cfg.face), clock.now_ms())) {
                nlohmann::json j = {{"elder_id", r.elder_id},
                                    {"name", r.name},
                                    {"reason", r.reason},
                                    {"newest_template_ms", r.newest_template_ms}};
                if (r.recent_distance) j["recent_distance"] = *r.recent_distance;
                if (r.baseline_distance) j["baseline_distance"] = *r.baseline_distance;
                std::cout << j.dump() << "\n";
            }
            return 0;
        });
    });
}

}  // namespace caregate

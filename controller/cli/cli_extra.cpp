// CLI commands beyond the foundation: staff accounts (and later face, sim, events, city).
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "config/config.hpp"
#include "controller/cctv/cctv_index.hpp"
#include "controller/city/exchange.hpp"
#include "controller/cli/cli_commands.hpp"
#include "controller/core/log.hpp"
#include "controller/core/store.hpp"
#include "controller/daemon.hpp"
#include "controller/door/face_service.hpp"
#include "controller/people/staff.hpp"
#include "devices/simulator.hpp"
#include "vision/face_engine.hpp"
#include "vision/face_eval.hpp"
#include "vision/photo_subject.hpp"

namespace caregate {

void guarded(CommandContext& ctx, const std::function<int()>& body) {
    try {
        ctx.exit_code = body();
    } catch (const config::ConfigError& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        ctx.exit_code = 2;
    } catch (const devices::ModelError& e) {  // a bad device-model file is bad config too
        std::cerr << "caregate: " << e.what() << "\n";
        ctx.exit_code = 2;
    } catch (const std::exception& e) {
        std::cerr << "caregate: " << e.what() << "\n";
        ctx.exit_code = 1;
    }
}

namespace {
// A .jpg, .jpeg or .png file (any case): the photos `face eval` and `face import` read from a folder.
bool is_photo_file(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::string read_password(bool from_stdin) {
    std::string pw;
    if (from_stdin || !isatty(STDIN_FILENO)) {
        std::getline(std::cin, pw);
        return pw;
    }
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    std::cerr << "password: ";
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, pw);
    std::cerr << "\nagain: ";
    std::string again;
    std::getline(std::cin, again);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
    if (again != pw) throw std::invalid_argument("the two passwords differ");
    return pw;
}

void register_staff_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string username, name, role = "staff";
        bool password_stdin = false;
    };
    auto o = std::make_shared<Opts>();
    auto* staff = app.add_subcommand("staff", "staff accounts for the kiosk");
    staff->require_subcommand(1);
    staff->add_option("--config,-c", ctx.config_path, "site config")->required();
    auto with_accounts = [&ctx](auto fn) {
        guarded(ctx, [&]() -> int {
            auto cfg = config::load_config(ctx.config_path);
            Store store(cfg.store.path, cfg.store.busy_timeout_ms);
            SystemClock clock;
            StaffAccounts accounts(store, clock);
            return fn(accounts);
        });
    };
    auto* add =
        staff->add_subcommand("add", "create an account (the password is asked for, or read from stdin)");
    add->add_option("username", o->username)->required();
    add->add_option("--name", o->name, "display name, e.g. 王护士");
    add->add_option("--role", o->role, "staff or admin")->check(CLI::IsMember({"staff", "admin"}));
    add->add_flag("--password-stdin", o->password_stdin, "read the password from the first line of stdin");
    add->callback([o, with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            auto m = a.add(o->username, o->name, o->role, read_password(o->password_stdin), "cli");
            std::cout << "created " << m.role << " account " << m.username << "\n";
            return 0;
        });
    });
    auto* passwd = staff->add_subcommand("passwd", "set a new password (also unlocks the account)");
    passwd->add_option("username", o->username)->required();
    passwd->add_flag("--password-stdin", o->password_stdin);
    passwd->callback([o, with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            a.set_password(o->username, read_password(o->password_stdin), "cli");
            std::cout << "password changed for " << o->username << "\n";
            return 0;
        });
    });
    auto* list = staff->add_subcommand("list", "list accounts");
    list->callback([with_accounts] {
        with_accounts([&](StaffAccounts& a) {
            for (auto& m : a.list())
                std::cout << m.username << "\t" << m.display_name << "\t" << m.role
                          << (m.active ? "" : "\tdisabled") << "\n";
            return 0;
        });
    });
}

// "2026-11-24 14:02" or "2026-11-24" (site local time) or epoch ms → UTC ms.
int64_t parse_local_time(const std::string& s, int64_t offset_ms) {
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
    std::tm tm{};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int n = std::sscanf(s.c_str(), "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n < 3) n = std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n < 3) throw std::invalid_argument("time '" + s + "' must look like 2026-11-24 14:02 (local time)");
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return int64_t(timegm(&tm)) * 1000 - offset_ms;
}

void register_event_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string camera, label, from, to;
        int64_t elder = 0, alarm = 0;
        int limit = 50;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    auto* events = app.add_subcommand("events", "search the CCTV event index");
    events->require_subcommand(1);
    events->add_option("--config,-c", ctx.config_path, "site config")->required();
    auto* list = events->add_subcommand("list", "events, newest first");
    list->add_option("--camera", o->camera);
    list->add_option("--label", o->label, "motion, person or face");
    list->add_option("--from", o->from, "local time, e.g. '2026-11-24 14:00'");
    list->add_option("--to", o->to, "local time");
    list->add_option("--elder", o->elder, "elder id");
    list->add_option("--near-alarm", o->alarm, "events around this alarm");
    list->add_option("--limit", o->limit);
    list->add_flag("--json", o->json, "one JSON object per line");
    list->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            auto cfg = config::load_config(ctx.config_path);
            Store store(cfg.store.path, cfg.store.busy_timeout_ms);
            SystemClock clock;
            EventIndex index(store, clock, cfg.cctv, cfg.store.media_dir);
            std::vector<nlohmann::json> rows;
            if (o->alarm) {
                rows = index.near_alarm(o->alarm, 5 * 60 * 1000, cfg);
            } else {
                EventQuery q;
                q.camera = o->camera;
                q.label = o->label;
                if (o->elder) q.elder_id = o->elder;
                int64_t off = 8LL * 3600 * 1000;
                if (!o->from.empty()) q.from_ms = parse_local_time(o->from, off);
                if (!o->to.empty()) q.to_ms = parse_local_time(o->to, off);
                q.limit = o->limit;
                rows = index.query(q);
            }
            for (auto& r : rows) {
                if (o->json) {
                    std::cout << r.dump() << "\n";
                } else {
                    time_t t = static_cast<time_t>(r["start_ts"].get<int64_t>() / 1000 + 8 * 3600);
                    std::tm tm{};
                    gmtime_r(&t, &tm);
                    char buf[32];
                    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
                    std::cout << r["id"] << "  " << buf << "  " << r["camera_id"].get<std::string>() << "  "
                              << r["label"].get<std::string>() << "  "
                              << (r["snapshot"].is_null() ? "-" : r["snapshot"].get<std::string>()) << "\n";
                }
            }
            return 0;
        });
    });
}

// Runs body(stop) until SIGTERM, SIGINT or SIGHUP (a closed terminal) sets stop. The main thread waits
// for the signal and the body runs on a thread of its own; a signal taken by a thread started before
// main (OpenBLAS's pool) is handed on to the main thread (block_signals()).
int run_until_signal(const std::function<int(std::atomic<bool>&)>& body) {
    block_signals();
    std::atomic<bool> stop{false};
    int rc = 0;
    std::exception_ptr error;
    pthread_t main_thread = pthread_self();
    std::thread worker([&] {
        try {
            rc = body(stop);
        } catch (...) {
            error = std::current_exception();
        }
        if (!stop) pthread_kill(main_thread, SIGTERM);  // done by itself: wake the main thread
    });
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    sigwait(&set, &sig);
    stop = true;
    worker.join();
    if (error) std::rethrow_exception(error);
    return rc;
}

void register_sim_command(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string script;
        std::vector<std::string> rtu;
    };
    auto o = std::make_shared<Opts>();
    auto* sim =
        app.add_subcommand("sim", "simulate the site's devices (Modbus TCP/RTU servers, MQTT sensors)");
    sim->add_option("--config,-c", ctx.config_path, "site config")->required();
    sim->add_option("--script", o->script, "lines like 'at 2.0 press bath_call_1' (see devices/README.md)");
    sim->add_option("--rtu", o->rtu, "BUS=PTY: serve an RTU bus on this pty (the poller uses the other end)");
    register_care_commands(app, *sim, ctx);
    sim->callback([&ctx, o, sim] {
        if (sim->got_subcommand("history")) return;  // `sim history` is its own command
        guarded(ctx, [&]() -> int {
            auto cfg = config::load_config(ctx.config_path);
            init_logging(cfg.log.level);
            std::map<std::string, std::string> rtu;
            for (auto& r : o->rtu) {
                auto eq = r.find('=');
                if (eq == std::string::npos)
                    throw std::invalid_argument("--rtu takes BUS=PTY, got '" + r + "'");
                rtu[r.substr(0, eq)] = r.substr(eq + 1);
            }
            return run_until_signal(
                [&](std::atomic<bool>& stop) { return devices::run_simulator(cfg, o->script, stop, rtu); });
        });
    });
}

// A model file as the package installs it, else as scripts/fetch-models leaves it in the source tree;
// the installed path when neither is there (the engine's error names it, or skips an optional one).
std::string installed_or_fetched(const std::string& file, const std::string& fetched_under) {
    std::string installed = "/usr/share/caregate/models/" + file;
    std::string fetched = std::string(CAREGATE_SOURCE_DIR "/.cache/models/") + fetched_under + file;
    return !std::filesystem::exists(installed) && std::filesystem::exists(fetched) ? fetched : installed;
}

std::string default_model() {
    if (const char* env = std::getenv("CAREGATE_FACE_MODEL")) return env;
    return installed_or_fetched("MobileFaceNet.tflite", "mobilefacenet/");
}

// The photo fallback detector (FaceEngineOptions::photo_mmod_model).
std::string default_photo_detector() { return installed_or_fetched("mmod_human_face_detector.dat", "dlib/"); }

void print_json_line(const nlohmann::json& j) { std::cout << j.dump() << "\n"; }

nlohmann::json box_json(const cv::Rect& b) { return {b.x, b.y, b.x + b.width, b.y + b.height}; }

// `caregate face eval DIR`: detection failures, genuine/impostor distances, EER, TAR at FAR, and the
// open-set 1:N result at the threshold the box would use, on a labelled folder of photos.
void register_face_eval(CLI::App& face, CommandContext& ctx) {
    struct Opts {
        std::string dir, model, groups, json_out, roc_png, config, descriptors_out;
        double threshold = 0, margin = 0.05, strangers = 0.4;
        int enroll = 2, splits = 1;
        int track_frames = config::Face{}.decide_frames;
        bool probes_as_frames = false, nearest_only = false;
    };
    auto o = std::make_shared<Opts>();
    auto* ev = face.add_subcommand("eval",
                                   "measure recognition on a labelled folder (identity = sub-folder or "
                                   "file name up to the last _<n>)");
    ev->add_option("dir", o->dir, "folder of photos")->required()->check(CLI::ExistingDirectory);
    ev->add_option("--config,-c", o->config,
                   "measure as this site's door does: its face models, threshold, margin, decide_frames and "
                   "quality limits (the flags below still override)")
        ->check(CLI::ExistingFile);
    ev->add_option("--model", o->model,
                   "recognition model (default: the site's, or the shipped MobileFaceNet)");
    ev->add_option("--threshold", o->threshold, "match distance (default: the model's calibrated value)");
    ev->add_option("--margin", o->margin, "runner-up margin, as face.margin")->capture_default_str();
    ev->add_option("--enroll", o->enroll, "photos enrolled per identity in the open-set test")
        ->capture_default_str();
    ev->add_option("--strangers", o->strangers, "fraction of identities never enrolled")
        ->capture_default_str();
    ev->add_option("--splits", o->splits,
                   "repeat the open-set test over this many choices of strangers and sum them (one choice "
                   "rests on which few look-alikes happen to be strangers)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    ev->add_option("--track-frames", o->track_frames,
                   "agreeing photos that decide a track, as face.decide_frames (each identity's probes "
                   "stand in for the frames of one walk to the door)")
        ->capture_default_str()
        ->check(CLI::Range(1, 20));
    ev->add_flag("--probes-as-frames", o->probes_as_frames,
                 "embed probe photos once, as the door embeds camera frames (no mirror image; still through "
                 "the photo checks), templates as enrollment does");
    ev->add_flag("--nearest-template-only", o->nearest_only,
                 "compare probes with each template only, not also with an elder's mean template as the box "
                 "does (to measure what the mean adds)");
    ev->add_option("--groups", o->groups, "TSV: identity<TAB>group (e.g. age band, sex, origin)");
    ev->add_option("--json", o->json_out, "write the full report as JSON here");
    ev->add_option("--roc", o->roc_png, "write the ROC plot (PNG) here");
    ev->add_option("--descriptors", o->descriptors_out,
                   "write each photo's identity and descriptor (or why it has none) here, one JSON line a "
                   "photo, to try other decision rules outside the tool; face descriptors are biometric "
                   "data: the file is readable by its owner only, for evaluation sets, not elders' photos");
    ev->callback([o, ev, &ctx] {
        guarded(ctx, [&]() -> int {
            namespace fs = std::filesystem;
            vision::FaceEngineOptions opts;
            if (!o->config.empty()) {
                // What the site's door uses, unless a flag says otherwise.
                config::Face f = config::load_config(o->config).face;
                opts = face_engine_options(f);
                // Refused when it was set for another model than the one measured here.
                if (!ev->count("--threshold") && f.threshold > 0)
                    o->threshold = vision::recognition_threshold(
                        o->model.empty() ? opts.recognition_model : o->model, f.threshold);
                if (!ev->count("--margin")) o->margin = f.margin;
                if (!ev->count("--track-frames")) o->track_frames = f.decide_frames;
            }
            if (!o->model.empty() || opts.recognition_model.empty())
                opts.recognition_model = o->model.empty() ? default_model() : o->model;
            if (o->config.empty()) opts.photo_mmod_model = default_photo_detector();
            vision::FaceEngine engine(opts);
            std::map<std::string, std::string> groups;
            if (!o->groups.empty()) {
                std::ifstream g(o->groups);
                if (!g) throw std::invalid_argument(o->groups + ": cannot open the groups file");
                std::string line;
                while (std::getline(g, line)) {
                    auto tab = line.find('\t');
                    if (line.empty() || line[0] == '#' || tab == std::string::npos) continue;
                    std::string rest = line.substr(tab + 1);
                    std::replace(rest.begin(), rest.end(), '\t', '|');
                    groups[line.substr(0, tab)] = rest;
                }
            }
            std::vector<std::string> files;
            for (auto& e : fs::recursive_directory_iterator(o->dir)) {
                if (e.is_regular_file() && is_photo_file(e.path())) files.push_back(e.path().string());
            }
            std::sort(files.begin(), files.end());
            if (files.empty()) throw std::invalid_argument(o->dir + ": no .jpg or .png photos in it");
            std::vector<vision::EvalSample> samples;
            const std::string too_small =
                "face too small (under " +
                std::to_string(std::min(opts.min_face_px, vision::kMinPhotoFacePx)) + " px)";
            for (size_t i = 0; i < files.size(); ++i) {
                vision::EvalSample s;
                s.file = fs::relative(files[i], o->dir).string();
                s.identity = vision::identity_from_filename(files[i], o->dir);
                if (auto it = groups.find(s.identity); it != groups.end()) s.group = it->second;
                try {
                    cv::Mat img = vision::load_image(files[i]);
                    auto faces = engine.analyze_photo(img);
                    // As enrollment does: the photo's subject, when it passes the quality gate.
                    auto subject = vision::choose_subject(faces, img.size());
                    if (faces.empty())
                        s.reject_reason = "no face found";
                    else if (!subject.index)
                        s.reject_reason = "faces of a like size, none in the middle";
                    else if (!faces[*subject.index].reject_reason.empty())
                        s.reject_reason = faces[*subject.index].reject_reason.rfind("face too small", 0) == 0
                                              ? too_small  // one line in the report, not one per width
                                              : faces[*subject.index].reject_reason;
                    else
                        s.descriptor = faces[*subject.index].descriptor;
                    if (s.descriptor && o->probes_as_frames)
                        s.probe_descriptor =
                            engine.embed(img, faces[*subject.index], vision::FaceEngine::Mirror::no);
                } catch (const std::exception& e) {
                    s.reject_reason = "unreadable image";
                }
                samples.push_back(std::move(s));
                std::cerr << "\r" << (i + 1) << "/" << files.size() << " photos" << std::flush;
            }
            std::cerr << "\n";
            vision::EvalOptions eo;
            eo.threshold = o->threshold > 0 ? o->threshold : engine.default_threshold();
            eo.margin = o->margin;
            eo.enroll_per_identity = o->enroll;
            eo.stranger_fraction = o->strangers;
            eo.track_frames = o->track_frames;
            eo.mean_templates = !o->nearest_only;
            auto report = vision::evaluate(samples, eo);
            std::cout << "model " << engine.model_id() << " (" << opts.recognition_model << ")\n"
                      << vision::to_table(report);
            std::optional<vision::SplitsSummary> splits;
            if (o->splits > 1) {
                splits = vision::evaluate_splits(samples, eo, size_t(o->splits));
                std::cout << vision::to_table(*splits);
            }
            if (!o->json_out.empty()) {
                std::ofstream j(o->json_out);
                nlohmann::json out = vision::to_json(report);
                out["model"] = engine.model_id();
                if (splits) out["splits"] = vision::to_json(*splits);
                j << out.dump(2) << "\n";
                if (!j) throw std::runtime_error(o->json_out + ": cannot write");
            }
            if (!o->roc_png.empty()) vision::write_roc_png(report, o->roc_png);
            if (!o->descriptors_out.empty()) {
                {  // owner-only before a descriptor is in it
                    std::ofstream create(o->descriptors_out, std::ios::app);
                    if (!create) throw std::runtime_error(o->descriptors_out + ": cannot write");
                }
                fs::permissions(o->descriptors_out, fs::perms::owner_read | fs::perms::owner_write);
                std::ofstream d(o->descriptors_out, std::ios::trunc);
                for (auto& s : samples) {
                    nlohmann::json j = {{"file", s.file}, {"identity", s.identity}, {"group", s.group}};
                    if (s.descriptor)
                        j["descriptor"] = std::vector<float>(s.descriptor->begin(), s.descriptor->end());
                    if (s.probe_descriptor)
                        j["probe_descriptor"] =
                            std::vector<float>(s.probe_descriptor->begin(), s.probe_descriptor->end());
                    if (!s.reject_reason.empty()) j["reject_reason"] = s.reject_reason;
                    d << j.dump() << "\n";
                }
                if (!d) throw std::runtime_error(o->descriptors_out + ": cannot write");
            }
            return 0;
        });
    });
}

// What the face commands that work on the site's own gallery open: its config, store, roster and face
// service. The face service (models and templates) is made on first use, after the roster work.
struct FaceSite {
    explicit FaceSite(const std::string& config_path) : cfg(quiet(config::load_config(config_path))) {}
    FaceService& faces() {
        if (!face_service) face_service = std::make_unique<FaceService>(cfg, store, clock, roster, nullptr);
        return *face_service;
    }
    // A command's output is its own lines (JSON for identify): the services' logging, info and the
    // warnings meant for the daemon's journal (a missing optional model file), stays out of it.
    static config::SiteConfig quiet(config::SiteConfig c) {
        spdlog::set_level(spdlog::level::err);
        return c;
    }
    config::SiteConfig cfg;
    Store store{cfg.store.path, cfg.store.busy_timeout_ms};
    SystemClock clock;
    Roster roster{store, clock};
    std::unique_ptr<FaceService> face_service;
};

void register_face_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string model, image, dir, out, consent_by, by = "cli";
        std::vector<std::string> images;
        int64_t elder = 0;
        bool confirm = false;
    };
    auto o = std::make_shared<Opts>();
    auto* face = app.add_subcommand("face", "face recognition: weights, embeddings, enrollment, forgetting");
    face->require_subcommand(1);
    auto guard = [&ctx](auto fn) { guarded(ctx, [&]() -> int { return fn(); }); };

    auto* imp =
        face->add_subcommand("import-weights", "convert face-api's TF.js weights into a dlib model file");
    imp->add_option("dir", o->dir, "folder with face_recognition_model-weights_manifest.json")->required();
    imp->add_option("out", o->out, "the .dat file to write")->required();
    imp->callback([o, guard] {
        guard([&] {
            vision::import_face_weights(o->dir, o->out);
            std::cout << "wrote " << o->out << "\n";
            return 0;
        });
    });

    auto* embed = face->add_subcommand("embed", "one JSON line per face: box, quality, descriptor");
    embed->add_option("image", o->image)->required();
    embed->add_option("--model", o->model, "recognition model: MobileFaceNet (.tflite) or dlib (.dat)");
    embed->callback([o, guard] {
        guard([&] {
            vision::FaceEngineOptions opts;
            opts.recognition_model = o->model.empty() ? default_model() : o->model;
            opts.photo_mmod_model = default_photo_detector();  // as enrollment searches a photo
            vision::FaceEngine engine(opts);
            auto img = vision::load_image(o->image);
            auto faces = engine.analyze_photo(img);
            if (faces.empty()) std::cerr << o->image << ": no face found\n";
            for (auto& f : faces) {
                nlohmann::json j = {
                    {"box", box_json(f.box)},
                    {"quality", std::round(f.quality * 1000) / 1000},
                    {"descriptor", std::vector<float>(f.descriptor->begin(), f.descriptor->end())}};
                if (!f.reject_reason.empty()) j["note"] = f.reject_reason;
                print_json_line(j);
            }
            return 0;
        });
    });

    register_face_eval(*face, ctx);
    register_face_site_commands(*face, ctx);

    auto* identify =
        face->add_subcommand("identify", "one JSON line per face: box, elder_id or null, distance");
    identify->add_option("image", o->image)->required();
    identify->add_option("--config,-c", ctx.config_path)->required();
    identify->callback([&ctx, o, guard] {
        guard([&] {
            FaceSite site(ctx.config_path);
            for (auto& id : site.faces().identify(vision::load_image(o->image)))
                print_json_line(
                    {{"box", box_json(id.face.box)},
                     {"elder_id",
                      id.match.elder_id ? nlohmann::json(*id.match.elder_id) : nlohmann::json(nullptr)},
                     {"distance",
                      id.match.distance < 1e8 ? std::round(id.match.distance * 10000) / 10000 : 1.0}});
            return 0;
        });
    });

    auto* enroll =
        face->add_subcommand("enroll", "build templates for an elder from 1-5 photos (consent required)");
    enroll->add_option("--config,-c", ctx.config_path)->required();
    enroll->add_option("--elder", o->elder, "elder id")->required();
    enroll->add_option("--consent-by", o->consent_by, "staff who recorded the elder's consent")->required();
    enroll->add_option("images", o->images, "1-5 photos")->required();
    enroll->add_flag("--confirm", o->confirm,
                     "enroll even though the face looks unlike the elder's earlier templates or like another "
                     "elder (after checking it is the right person)");
    enroll->callback([&ctx, o, guard] {
        guard([&] {
            FaceSite site(ctx.config_path);
            auto e = site.roster.get(o->elder);
            if (!e) throw std::invalid_argument("elder " + std::to_string(o->elder) + " does not exist");
            if (!e->consent_at) site.roster.record_consent(o->elder, o->consent_by, o->by);
            std::vector<std::string> notes;
            int n = site.faces().enroll_files(o->elder, o->images, o->by, o->confirm, &notes);
            for (auto& note : notes) std::cerr << note << "\n";
            std::cout << "enrolled " << n << " template" << (n == 1 ? "" : "s") << " for elder " << o->elder
                      << " (" << e->name << ")\n";
            return 0;
        });
    });

    auto* import_cmd =
        face->add_subcommand("import", "enroll a folder with one sub-folder per elder id (or name)");
    import_cmd->add_option("--config,-c", ctx.config_path)->required();
    import_cmd->add_option("dir", o->dir)->required();
    import_cmd->add_option("--consent-by", o->consent_by, "staff who collected the consents")->required();
    import_cmd->callback([&ctx, o, guard] {
        guard([&] {
            FaceSite site(ctx.config_path);
            site.faces();  // a missing model or key fails the whole import once, not every elder
            Roster& roster = site.roster;
            std::vector<std::filesystem::path> folders;
            for (auto& d : std::filesystem::directory_iterator(o->dir))
                if (d.is_directory()) folders.push_back(d.path());
            std::sort(folders.begin(), folders.end());
            int ok = 0, failed = 0, templates = 0;
            for (size_t i = 0; i < folders.size(); ++i) {
                auto name = folders[i].filename().string();
                std::optional<Elder> e;
                if (name.find_first_not_of("0123456789") == std::string::npos)
                    e = roster.get(std::stoll(name));
                if (!e)
                    for (auto& x : roster.list(name))
                        if (x.name == name) e = x;
                std::cerr << "\r[" << std::setw(3) << (i + 1) * 100 / folders.size() << "%] " << name
                          << "          ";
                try {
                    if (!e) throw std::invalid_argument("no elder with id or name '" + name + "'");
                    if (!e->consent_at) roster.record_consent(e->id, o->consent_by, o->by);
                    // Photos only, in name order: a folder copied from a phone or a PC also holds
                    // Thumbs.db, .DS_Store and the like, which are passed over, not a failure.
                    std::vector<std::filesystem::path> photos;
                    size_t other_files = 0;
                    for (auto& f : std::filesystem::directory_iterator(folders[i])) {
                        if (!f.is_regular_file()) continue;
                        if (f.path().filename().string()[0] != '.' && is_photo_file(f.path()))
                            photos.push_back(f.path());
                        else
                            other_files++;
                    }
                    std::sort(photos.begin(), photos.end());
                    std::vector<std::string> notes;
                    if (other_files)
                        notes.push_back("跳过了 " + std::to_string(other_files) +
                                        " 个不是照片的文件（只读 JPEG 和 PNG）");
                    if (photos.size() > 5) {
                        notes.push_back("文件夹里有 " + std::to_string(photos.size()) +
                                        " 张照片，按文件名只录入了前 5 张");
                        photos.resize(5);
                    }
                    std::vector<std::string> paths;
                    for (auto& f : photos) paths.push_back(f.string());
                    templates += site.faces().enroll_files(e->id, paths, o->by, false, &notes);
                    // Each note on a line of its own: the next progress "\r" must not overwrite it.
                    for (auto& note : notes) std::cerr << "\n  " << name << ": " << note << "\n";
                    ok++;
                } catch (const std::exception& ex) {
                    failed++;
                    std::cerr << "\n  " << name << ": " << ex.what() << "\n";
                }
            }
            std::cerr << "\n";
            std::cout << "imported " << ok << " elders (" << templates << " templates), " << failed
                      << " failed\n";
            return failed ? 1 : 0;
        });
    });

    auto* forget = face->add_subcommand("forget", "delete an elder's face templates (and photos), audited");
    forget->add_option("--config,-c", ctx.config_path)->required();
    forget->add_option("--elder", o->elder)->required();
    forget->add_option("--by", o->by, "who asked for or recorded the deletion (audit log)");
    forget->callback([&ctx, o, guard] {
        guard([&] {
            auto cfg = config::load_config(ctx.config_path);
            Store store(cfg.store.path, cfg.store.busy_timeout_ms);
            SystemClock clock;
            TemplateStore templates(store, clock, FaceKey::load(cfg.face.key_file));
            int n = templates.forget(o->elder, o->by);
            std::error_code ec;
            std::filesystem::remove_all(cfg.store.media_dir + "/enrollment/" + std::to_string(o->elder), ec);
            EventIndex events(store, clock, cfg.cctv, cfg.store.media_dir);
            int seen = events.forget_elder(o->elder);
            std::cout << "deleted " << n << " templates of elder " << o->elder << " and " << seen
                      << " recognition events; a running daemon stops recognising them within seconds\n";
            return 0;
        });
    });
}

}  // namespace

void register_city_commands(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string db, schemas, uri;
    };
    auto o = std::make_shared<Opts>();
    auto* r =
        app.add_subcommand("city-receiver", "reference receiver for the city side: validate, dedupe, store");
    r->add_option("--config,-c", ctx.config_path, "site config (city.uri and site.region are used)")
        ->required();
    r->add_option("--db", o->db, "receiver database (default: city-receiver.db next to the site store)");
    r->add_option("--schemas", o->schemas, "folder of JSON schemas (default: docs/schemas)");
    r->add_option("--uri", o->uri, "broker to subscribe to (default: city.uri)");
    r->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            auto cfg = config::load_config(ctx.config_path);
            init_logging(cfg.log.level);
            std::string db =
                o->db.empty()
                    ? (std::filesystem::path(cfg.store.path).parent_path() / "city-receiver.db").string()
                    : o->db;
            std::string schemas = o->schemas;
            if (schemas.empty())
                for (std::string c : {std::string(CAREGATE_SOURCE_DIR) + "/docs/schemas",
                                      std::string("/usr/share/caregate/schemas")})
                    if (std::filesystem::exists(c)) schemas = c;
            return run_until_signal([&](std::atomic<bool>& stop) {
                return city::run_city_receiver(o->uri.empty() ? cfg.city.uri : o->uri, cfg.site.region, db,
                                               schemas, stop);
            });
        });
    });
}

void register_extra_commands(CLI::App& app, CommandContext& ctx) {
    register_city_commands(app, ctx);
    register_face_commands(app, ctx);
    register_sim_command(app, ctx);
    register_tls_commands(app, ctx);
    register_door_commands(app, ctx);
    register_staff_commands(app, ctx);
    register_event_commands(app, ctx);
}

}  // namespace caregate

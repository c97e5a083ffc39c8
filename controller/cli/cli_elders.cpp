// `caregate elders import FILE [--dry-run]`: the roster from a .csv or .xlsx file, as the kiosk's
// 导入名册 does it: every row checked, refused rows listed with their reason, only the valid rows saved
// (in one transaction), the same person (same 身份证号) updated rather than added twice.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "controller/cli/cli_commands.hpp"
#include "controller/core/clock.hpp"
#include "controller/people/roster_import.hpp"

namespace caregate {

void register_elder_import_command(CLI::App& app, CommandContext& ctx) {
    struct Opts {
        std::string file, by = "cli";
        bool dry_run = false;
    };
    auto o = std::make_shared<Opts>();
    CLI::App* elders = app.get_subcommand("elders");
    auto* imp = elders->add_subcommand(
        "import",
        "import the roster from a .csv or .xlsx file (Chinese headers: 姓名 性别 出生日期 身份证号 …); "
        "exit 1 when any row was refused (the valid rows are imported all the same)");
    imp->add_option("file", o->file, "the .xlsx or .csv file")->required();
    imp->add_flag("--dry-run", o->dry_run, "check every row and print the preview; save nothing");
    imp->add_option("--by", o->by, "who imports (audit log)")->capture_default_str();
    imp->callback([&ctx, o] {
        guarded(ctx, [&]() -> int {
            // Bounded before a byte is read.
            std::error_code ec;
            auto size = std::filesystem::file_size(o->file, ec);
            if (ec) throw std::runtime_error("无法读取文件 " + o->file);
            if (size > elder_import_limits().max_file_bytes)
                throw std::runtime_error(
                    "文件过大：最多 " + std::to_string(elder_import_limits().max_file_bytes / (1024 * 1024)) +
                    " MB");
            std::ifstream in(o->file, std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            OpenSite site(ctx.config_path);
            SystemClock clock;
            Roster roster(site.store, clock);
            auto plan = plan_elder_import(roster, ss.str());
            for (auto& w : plan.warnings) std::cout << "提示：" << w << "\n";
            size_t creates = 0;
            for (auto& r : plan.rows) {
                for (auto& e : r.errors) std::cout << e << "\n";
                if (!r.note.empty())
                    std::cout << "第 " << r.line << " 行 " << r.elder.name << "：" << r.note << "\n";
                creates += r.action == "create";
            }
            std::cout << "共 " << plan.rows.size() << " 行：可导入 " << plan.valid() << " 行（新增 "
                      << creates << "，更新 " << plan.valid() - creates << "），有误 " << plan.refused()
                      << " 行\n";
            if (!o->dry_run) {
                auto r = apply_elder_import(roster, plan, o->by);
                site.store.write([&](sqlite3* db) {
                    Store::audit(
                        db, o->by, "elder.import", "elders",
                        nlohmann::json{{"created", r.created}, {"updated", r.updated}, {"refused", r.refused}}
                            .dump(),
                        clock.now_ms());
                });
                std::cout << "已导入：新增 " << r.created << " 人，更新 " << r.updated << " 人"
                          << (r.refused ? "；有误的 " + std::to_string(r.refused) + " 行未导入" : "") << "\n";
            } else {
                std::cout << "（预览，未保存）\n";
            }
            return plan.refused() ? 1 : 0;
        });
    });
}

}  // namespace caregate

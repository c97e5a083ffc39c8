// 长者名册导入: a .csv or .xlsx roster (Chinese column headers, any order) read into a preview with
// each refused row's reason (第 7 行 身份证号 校验位不对…), then only the valid rows saved in one
// transaction. The same person imported again (same 身份证号) is updated, not
// added twice. Used by the kiosk (POST /api/elders/import) and `caregate elders import`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/people/roster.hpp"
#include "controller/people/spreadsheet.hpp"

namespace caregate {

struct ImportRow {
    int line = 0;        // the row's number in the file (the header row is 1 when it comes first)
    Elder elder;         // as it would be saved
    std::string action;  // "create", "update" or "" (refused)
    std::vector<std::string> errors;  // each "第 7 行 身份证号 校验位不对，…"
    std::string note;                 // e.g. 该长者已停用，导入只更新资料
};

struct ImportPlan {
    std::vector<std::string> columns;   // the recognised headers, in file order
    std::vector<std::string> warnings;  // ignored columns, skipped blank rows
    std::vector<ImportRow> rows;
    size_t valid() const;
    size_t refused() const;
    // For the preview: 身份证号 masked, at most max_rows rows (refused rows first).
    nlohmann::json to_json(size_t max_rows = 2000) const;
};

struct ImportResult {
    size_t created = 0, updated = 0, refused = 0;
};

// Bounds of an imported file: 4 MB, 20 MB uncompressed, 10,000 rows.
const sheet::Limits& elder_import_limits();
// The column headers the import knows, in the template's order.
const std::vector<std::string>& elder_import_columns();

// Reads the file (sheet::read_table; throws sheet::SheetError) and checks every row against the
// roster without writing.
ImportPlan plan_elder_import(Roster& roster, const std::string& file_bytes);
ImportPlan plan_elder_import(Roster& roster, const sheet::Table& table);
// Saves the plan's valid rows in one transaction. Throws ElderFieldError (what() names the row) when a
// row became invalid since the plan (nothing is saved then).
ImportResult apply_elder_import(Roster& roster, const ImportPlan& plan, const std::string& actor);

// The import template (.xlsx): the headers and one example row.
std::string elder_import_template();

}  // namespace caregate

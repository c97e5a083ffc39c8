// Spreadsheets staff exchange with the box: tables read from .csv and .xlsx uploads (bounded before
// and while parsing: size, uncompressed size, rows, columns, no DTDs), and .xlsx exports written by
// libxlsxwriter.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace caregate::sheet {

using Table = std::vector<std::vector<std::string>>;

struct Limits {
    size_t max_file_bytes = 4 * 1024 * 1024;           // the upload itself
    size_t max_uncompressed_bytes = 20 * 1024 * 1024;  // every entry of an .xlsx together
    size_t max_rows = 10'000;                          // data rows (a header row comes on top)
    size_t max_columns = 64;
    size_t max_cell_bytes = 4096;  // longer cells are cut here (the field checks refuse them anyway)
};

// A file that cannot be read; what() is Chinese and says what to do.
struct SheetError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// CSV (UTF-8, with or without BOM; GB18030 as Excel saves it on Chinese Windows).
Table read_csv(const std::string& bytes, const Limits& limits = {});
// The first worksheet of an .xlsx workbook.
Table read_xlsx(const std::string& bytes, const Limits& limits = {});
// By content: a zip archive is read as .xlsx, anything else as CSV; an old .xls is refused.
Table read_table(const std::string& bytes, const Limits& limits = {});

struct Column {
    std::string header;
    double width = 12;
};
// One worksheet: a bold header row (frozen, with filters), then the rows. A cell is a JSON string,
// number, boolean or null (blank). Throws std::runtime_error when libxlsxwriter fails.
std::string write_xlsx(const std::string& sheet_name, const std::vector<Column>& columns,
                       const std::vector<std::vector<nlohmann::json>>& rows);

// Content-Disposition for a download named in Chinese: an ASCII fallback and RFC 5987 filename*.
std::string content_disposition(const std::string& utf8_name, const std::string& ascii_fallback);

constexpr const char* kXlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

}  // namespace caregate::sheet

// CSV for the exports staff open in a spreadsheet (monthly report, meal statement).
#pragma once

#include <string>

namespace caregate {

// A cell: quoted when it holds a comma, a quote or a line break (names and reasons are free text).
inline std::string csv_cell(const std::string& v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

}  // namespace caregate

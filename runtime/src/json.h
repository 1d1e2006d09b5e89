// A small JSON reader for the tuning tables: the whole grammar, numbers as double, no writer.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hmlstm::detail {

struct Json {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<Json> array;
    std::map<std::string, Json> object;

    // Member `key` of an object, or null when absent or not an object.
    const Json *get(const std::string &key) const;
};

// Parses `text`; on failure returns false and says where and why in `error`.
bool parse_json(const std::string &text, Json *out, std::string *error);

}  // namespace hmlstm::detail

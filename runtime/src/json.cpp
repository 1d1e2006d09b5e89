#include "json.h"

#include <cstdlib>

namespace hmlstm::detail {

const Json *Json::get(const std::string &key) const {
    if (kind != Kind::object) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &it->second;
}

namespace {

class Parser {
public:
    explicit Parser(const std::string &text) : s_(text) {}

    bool document(Json *out, std::string *error) {
        bool ok = value(out, 0);
        space();
        if (ok && pos_ != s_.size()) ok = fail("text after the end of the document");
        if (!ok) *error = "at byte " + std::to_string(pos_) + ": " + why_;
        return ok;
    }

private:
    const std::string &s_;
    size_t pos_ = 0;
    std::string why_;

    bool fail(const std::string &why) {
        if (why_.empty()) why_ = why;
        return false;
    }
    void space() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) pos_++;
    }
    bool literal(const char *word) {
        size_t n = 0;
        while (word[n]) n++;
        if (s_.compare(pos_, n, word) != 0) return fail(std::string("expected ") + word);
        pos_ += n;
        return true;
    }
    bool value(Json *out, int depth) {
        if (depth > 64) return fail("nested too deeply");
        space();
        if (pos_ >= s_.size()) return fail("unexpected end");
        const char c = s_[pos_];
        if (c == '{') return object(out, depth);
        if (c == '[') return array(out, depth);
        if (c == '"') {
            out->kind = Json::Kind::string;
            return string(&out->string);
        }
        if (c == 't' || c == 'f') {
            out->kind = Json::Kind::boolean;
            out->boolean = c == 't';
            return literal(c == 't' ? "true" : "false");
        }
        if (c == 'n') return literal("null");
        return number(out);
    }
    bool number(Json *out) {
        const char *begin = s_.c_str() + pos_;
        char *end = nullptr;
        out->number = std::strtod(begin, &end);
        if (end == begin) return fail("expected a value");
        out->kind = Json::Kind::number;
        pos_ += size_t(end - begin);
        return true;
    }
    bool string(std::string *out) {
        pos_++;  // opening quote
        while (pos_ < s_.size() && s_[pos_] != '"') {
            char c = s_[pos_++];
            if (c == '\\') {
                if (pos_ >= s_.size()) break;
                const char e = s_[pos_++];
                switch (e) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'u':  // kept as '?': the tables hold no escapes outside ASCII
                    if (pos_ + 4 > s_.size()) return fail("short \\u escape");
                    pos_ += 4;
                    c = '?';
                    break;
                default: c = e;  // \" \\ \/
                }
            }
            out->push_back(c);
        }
        if (pos_ >= s_.size()) return fail("unterminated string");
        pos_++;
        return true;
    }
    bool array(Json *out, int depth) {
        out->kind = Json::Kind::array;
        pos_++;
        space();
        if (pos_ < s_.size() && s_[pos_] == ']') return pos_++, true;
        while (true) {
            out->array.emplace_back();
            if (!value(&out->array.back(), depth + 1)) return false;
            space();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') return pos_++, true;
            return fail("expected , or ] in an array");
        }
    }
    bool object(Json *out, int depth) {
        out->kind = Json::Kind::object;
        pos_++;
        space();
        if (pos_ < s_.size() && s_[pos_] == '}') return pos_++, true;
        while (true) {
            space();
            if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a member name");
            std::string key;
            if (!string(&key)) return false;
            space();
            if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected :");
            pos_++;
            if (!value(&out->object[key], depth + 1)) return false;
            space();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                pos_++;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') return pos_++, true;
            return fail("expected , or } in an object");
        }
    }
};

}  // namespace

bool parse_json(const std::string &text, Json *out, std::string *error) {
    *out = Json{};
    return Parser(text).document(out, error);
}

}  // namespace hmlstm::detail

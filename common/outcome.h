// What became of one step of a pass: the line that describes it, and whether it worked. The
// engine reports these (status.json, the terminal); the backends return them for their batches.
#pragma once

#include <string>

namespace dsvm {

struct ActionOutcome {
    std::string action;  // describe(action)
    bool ok = true;
    std::string error;

    static ActionOutcome done(std::string action) { return {std::move(action), true, {}}; }
    static ActionOutcome failed(std::string action, std::string error) {
        return {std::move(action), false, std::move(error)};
    }

    bool operator==(const ActionOutcome&) const = default;
};

}  // namespace dsvm

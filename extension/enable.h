// `dsvm-agent extension enable`: check and decrypt everything the settings hold, then write
// pool.json, the key and the record as one transaction, then enable and start or reload the
// service (docs/extension.md, "enable: order, failures and repeats").
#pragma once

#include "common/result.h"
#include "extension/context.h"

namespace dsvm::extension {

// Invalid for settings that break a rule, Runtime for what the VM did not provide or allow; on
// either, pool.json and the credentials are as they were. A failure to start the service comes
// after the files are in place and says so.
Result<void> enable(const Context& context);

}  // namespace dsvm::extension

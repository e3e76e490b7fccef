// SecretBytes lives in common/secret.h; the extension's files include it from here.
#pragma once

#include "common/secret.h"

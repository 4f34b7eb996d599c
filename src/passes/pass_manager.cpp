#include "passes/pass_manager.h"

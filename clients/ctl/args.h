// collectionsctl's command-line parsing is the clients' shared one
// (clients/common/args.h); these names keep the ctl code and its tests
// unchanged.
#ifndef COLLECTIONS_CLIENTS_CTL_ARGS_H_
#define COLLECTIONS_CLIENTS_CTL_ARGS_H_

#include "clients/common/args.h"

namespace collections::ctl {

using clients::Args;
using clients::Flag;
using clients::FlagHelp;
using clients::ParseCny;

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_ARGS_H_

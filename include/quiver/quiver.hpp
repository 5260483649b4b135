#pragma once
// Umbrella header of the public API.

#include "quiver/config.hpp"

#include "quiver/body.hpp"
#include "quiver/client.hpp"
#include "quiver/error.hpp"
#include "quiver/headers.hpp"
#include "quiver/options.hpp"
#include "quiver/request.hpp"
#include "quiver/request_builder.hpp"
#include "quiver/response.hpp"
#include "quiver/stats.hpp"
#include "quiver/telemetry.hpp"
#include "quiver/transfer_options.hpp"
#include "quiver/url.hpp"

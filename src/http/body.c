#include "http/body.h"

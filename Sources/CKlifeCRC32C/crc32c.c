#include "CKlifeCRC32C.h"

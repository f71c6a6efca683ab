// migo-trackd — counts opens and clicks, redirects clicks. See `migo-trackd --help`.
#include "trackd_main.h"

int main(int argc, char** argv) { return migo::trackd_main(argc, argv); }

#pragma once
// What every Kaon app's main() shares: MPI start-up/shutdown, turning exceptions into a
// clear message and a non-zero exit (aborting the whole MPI job so no rank hangs).
#include <functional>
#include <string>

namespace kaon::apps {

// Initialises MPI, runs body, finalises; any exception is printed with the rank and the job
// is aborted with exit code 1 (MPI_Abort when more than one rank runs).
int guardedMain(const char* appName, int argc, char** argv, const std::function<int(int, char**)>& body);

// Until the distributed trainer lands, refuse multi-rank launches instead of silently
// training N independent copies.
void requireSingleProcess(const char* appName);

// "auto": <dir>/checkpoint.h5 if it exists; "never": none; otherwise the given path (must exist).
std::string resolveResume(const std::string& resume, const std::string& checkpointDir);

}  // namespace kaon::apps

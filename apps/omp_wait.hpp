#pragma once
// OpenMP's wait policy for ranks that share a node. libgomp spins at every barrier and at the
// end of every parallel region (GOMP_SPINCOUNT, 300000 by default) before it sleeps; with
// several ranks per node, each bound to a few cores beside its communication thread, the
// spinning threads take cores (or hyperthread siblings, memory bandwidth) from the threads
// that compute. Passive waiting measured faster there (docs/perf-notes.md §9c).
//
// libgomp reads OMP_WAIT_POLICY when it is loaded, before main(): a setenv() in main() has no
// effect (verified, §9c). So the policy is applied by re-executing the program once
// (/proc/self/exe, the same arguments and environment plus OMP_WAIT_POLICY=passive) before
// MPI starts: the process, its pid and the launcher's connections stay the same.
//
// KAON_OMP_WAIT (read by every Kaon app's main, apps/app_support.hpp):
//   auto (default)  passive when the launcher reports more than one rank on this node
//                   (Open MPI, MPICH/Intel MPI Hydra, Slurm), else libgomp's default
//   passive         passive whatever the ranks
//   keep            leave the OpenMP runtime's default
// A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins. Another value is an error.
#include <string>

namespace kaon::apps {

// Ranks on this node as the launcher's environment tells before MPI starts; 0 if unknown.
int launcherLocalRanks();

// Applies KAON_OMP_WAIT as above: returns normally when nothing is to change (or the exec
// failed, with a warning on stderr); otherwise does not return. Throws on a bad value.
void applyOmpWaitPolicy(char** argv);

// How this process's OpenMP runtime waits: "passive (set by Kaon)", "passive", "active",
// "default" (from OMP_WAIT_POLICY / GOMP_SPINCOUNT and whether Kaon set them).
std::string ompWaitPolicyDescription();

}  // namespace kaon::apps

// GoogleTest main for tests run under mpiexec: initialises MPI, lets only rank 0 print, and
// makes the process exit non-zero on any rank's failure (so mpiexec and ctest see it).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // The gradient allreducer's communication thread calls MPI beside the test's thread.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (provided < MPI_THREAD_MULTIPLE) {
    std::fprintf(stderr, "rank %d: MPI provides thread level %d, the tests need MPI_THREAD_MULTIPLE (%d)\n", rank,
                 provided, MPI_THREAD_MULTIPLE);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int result = RUN_ALL_TESTS();
  // Every rank must agree on success; a failure anywhere fails the whole run.
  int worst = 0;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && worst != result) std::fprintf(stderr, "a test failed on another rank\n");
  MPI_Finalize();
  return worst;
}

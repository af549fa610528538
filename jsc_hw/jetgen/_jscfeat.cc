// _jscfeat.cc -- anti-kT clustering of one event and the 16 hls4ml-JSC jet features, computed with the
// original FastJet-contrib classes (as in trackObservables processing/anaSubstructure.cpp):
//   mMDT          = contrib::SoftDrop(beta=0, z_cut=0.1, R0=1)
//   C1, C2 (beta) = EnergyCorrelatorDoubleRatio(N, beta, pt_R)
//   D2 (beta)     = EnergyCorrelatorD2(beta, pt_R)
//   D2 (a=1,beta) = EnergyCorrelatorGeneralizedD2(1, beta, pt_R)
//   M2, N2 (beta) = EnergyCorrelatorMseries / Nseries(2, beta, pt_R)
//   zlogz, multiplicity on the UNGROOMED jet; every *_mmdt ratio and the mass on the groomed jet.
// Built on first use by jsc_hw/jetgen/features.py against the libraries inside the `fastjet` wheel.
#include <algorithm>
#include <cmath>
#include <vector>
#include "fastjet/ClusterSequence.hh"
#include "fastjet/JetDefinition.hh"
#include "fastjet/PseudoJet.hh"
#include "fastjet/contrib/EnergyCorrelator.hh"
#include "fastjet/contrib/SoftDrop.hh"

using namespace fastjet;
using namespace fastjet::contrib;

namespace {
const int NOUT = 22;
const char* NAMES[NOUT] = {
    "j_pt", "j_eta", "j_phi", "j_mass",
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt",
    "j_n2_b1_mmdt", "j_n2_b2_mmdt", "j_mass_mmdt", "j_multiplicity",
    "j_pt_mmdt", "j_nconst_mmdt"};
const EnergyCorrelator::Measure M = EnergyCorrelator::pt_R;
}  // namespace

extern "C" {

int jsc_nout() { return NOUT; }
const char* jsc_name(int i) { return (i >= 0 && i < NOUT) ? NAMES[i] : ""; }

// Cluster n particles (E-scheme anti-kT, radius R), keep inclusive jets above ptmin sorted by pT and
// write NOUT values for each of the first max_jets jets into out. Returns the number of jets written.
int jsc_event(int n, const double* px, const double* py, const double* pz, const double* e,
              double R, double ptmin, int max_jets, double* out) {
  std::vector<PseudoJet> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.emplace_back(px[i], py[i], pz[i], e[i]);
  ClusterSequence cs(parts, JetDefinition(antikt_algorithm, R));
  std::vector<PseudoJet> jets = sorted_by_pt(cs.inclusive_jets(ptmin));

  static SoftDrop mmdt(0.0, 0.1, 1.0);
  static EnergyCorrelatorDoubleRatio c1_b0(1, 0.0, M), c1_b1(1, 1.0, M), c1_b2(1, 2.0, M);
  static EnergyCorrelatorDoubleRatio c2_b1(2, 1.0, M), c2_b2(2, 2.0, M);
  static EnergyCorrelatorD2 d2_b1(1.0, M), d2_b2(2.0, M);
  static EnergyCorrelatorGeneralizedD2 d2_a1_b1(1.0, 1.0, M), d2_a1_b2(1.0, 2.0, M);
  static EnergyCorrelatorMseries m2_b1(2, 1.0, M), m2_b2(2, 2.0, M);
  static EnergyCorrelatorNseries n2_b1(2, 1.0, M), n2_b2(2, 2.0, M);

  const int nj = std::min<int>(max_jets, static_cast<int>(jets.size()));
  for (int j = 0; j < nj; ++j) {
    const PseudoJet& jet = jets[j];
    const std::vector<PseudoJet> cons = jet.constituents();
    double zlogz = 0.0;
    for (const PseudoJet& c : cons) {
      const double z = c.e() / jet.e();
      if (z > 0) zlogz += z * std::log(z);
    }
    const PseudoJet g = mmdt(jet);
    const double v[NOUT] = {
        jet.pt(), jet.eta(), jet.phi_std(), jet.m(),
        zlogz, c1_b0(g), c1_b1(g), c1_b2(g), c2_b1(g), c2_b2(g),
        d2_b1(g), d2_b2(g), d2_a1_b1(g), d2_a1_b2(g), m2_b1(g), m2_b2(g),
        n2_b1(g), n2_b2(g), g.m(), static_cast<double>(cons.size()),
        g.pt(), static_cast<double>(g.constituents().size())};
    std::copy(v, v + NOUT, out + j * NOUT);
  }
  return nj;
}

}  // extern "C"

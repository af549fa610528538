// _jscfeat.cc -- anti-kT clustering of one event and the 16 hls4ml-JSC jet features, computed with the
// original FastJet-contrib classes (as in trackObservables processing/anaSubstructure.cpp):
//   mMDT          = contrib::SoftDrop(beta=0, z_cut=0.1, R0=1)
//   C1, C2 (beta) = EnergyCorrelatorDoubleRatio(N, beta, pt_R)
//   D2 (beta)     = EnergyCorrelatorD2(beta, pt_R)
//   D2 (a=1,beta) = EnergyCorrelatorGeneralizedD2(1, beta, pt_R)
//   M2, N2 (beta) = EnergyCorrelatorMseries / Nseries(2, beta, pt_R)
//   zlogz, multiplicity on the UNGROOMED jet; every *_mmdt ratio and the mass on the groomed jet.
// Two implementations of the ECF ratios: `jsc_event_fjcontrib` calls the fjcontrib classes above one by one
// (each 3-point ratio is its own O(n^3) sum: ten of them per jet); `jsc_event` / `jsc_jet` compute the same
// sums e2, e3, 1e3, 2e3 at beta = 1 and 2 in ONE pass over the pairs and triplets of the groomed jet, with the
// same fjcontrib ingredients (pt_R measure: energy = pT, angle^2 = PseudoJet::squared_distance). They agree to
// ~1e-13 (tests/test_jetgen.py); the fused pass is ~10x cheaper on large gluon jets.
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

// sum_i (E_i / E_J) ln(E_i / E_J) over the ungroomed constituents
double zlogz(const PseudoJet& jet, const std::vector<PseudoJet>& cons) {
  double sum = 0.0;
  for (const PseudoJet& c : cons) {
    const double z = c.e() / jet.e();
    if (z > 0) sum += z * std::log(z);
  }
  return sum;
}

// The 16 features (and kinematics) of one jet, with the fused ECF sums.
void fused_features(const PseudoJet& jet, double* v) {
  static SoftDrop mmdt(0.0, 0.1, 1.0);
  const std::vector<PseudoJet> cons = jet.constituents();
  const PseudoJet g = mmdt(jet);
  const std::vector<PseudoJet> gc = g.constituents();
  const int n = static_cast<int>(gc.size());
  std::vector<double> z(n), t1(n * n);  // z_i; theta_ij (i < j)
  double ptsum = 0.0;
  for (int i = 0; i < n; ++i) ptsum += gc[i].perp();
  for (int i = 0; i < n; ++i) z[i] = gc[i].perp() / ptsum;
  double c1b0 = 0, e2_1 = 0, e2_2 = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double a2 = gc[i].squared_distance(gc[j]), a1 = std::sqrt(a2), w = z[i] * z[j];
      t1[i * n + j] = a1;
      c1b0 += w;
      e2_1 += w * a1;
      e2_2 += w * a2;
    }
  double e3_1 = 0, e3_2 = 0, m_1 = 0, m_2 = 0, n_1 = 0, n_2 = 0;  // e3, 1e3 (min), 2e3 (min * mid)
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double wij = z[i] * z[j], aij = t1[i * n + j];
      for (int k = j + 1; k < n; ++k) {
        const double w = wij * z[k];
        double a = aij, b = t1[i * n + k], c = t1[j * n + k];  // sort a <= b <= c
        if (a > b) std::swap(a, b);
        if (b > c) std::swap(b, c);
        if (a > b) std::swap(a, b);
        const double ab = a * b;
        e3_1 += w * ab * c;
        e3_2 += w * ab * c * ab * c;
        m_1 += w * a;
        m_2 += w * a * a;
        n_1 += w * ab;
        n_2 += w * ab * ab;
      }
    }
  const double vals[NOUT] = {
      jet.pt(), jet.eta(), jet.phi_std(), jet.m(),
      zlogz(jet, cons), c1b0, e2_1, e2_2, e3_1 / (e2_1 * e2_1), e3_2 / (e2_2 * e2_2),
      e3_1 / (e2_1 * e2_1 * e2_1), e3_2 / (e2_2 * e2_2 * e2_2), e3_1 / (e2_1 * e2_1 * e2_1),
      e3_1 / std::pow(e2_2, 1.5), m_1 / e2_1, m_2 / e2_2,
      n_1 / (e2_1 * e2_1), n_2 / (e2_2 * e2_2), g.m(), static_cast<double>(cons.size()),
      g.pt(), static_cast<double>(n)};
  std::copy(vals, vals + NOUT, v);
}

// The same values with the fjcontrib classes, one observable at a time (the reference).
void fjcontrib_features(const PseudoJet& jet, double* v) {
  static SoftDrop mmdt(0.0, 0.1, 1.0);
  static EnergyCorrelatorDoubleRatio c1_b0(1, 0.0, M), c1_b1(1, 1.0, M), c1_b2(1, 2.0, M);
  static EnergyCorrelatorDoubleRatio c2_b1(2, 1.0, M), c2_b2(2, 2.0, M);
  static EnergyCorrelatorD2 d2_b1(1.0, M), d2_b2(2.0, M);
  static EnergyCorrelatorGeneralizedD2 d2_a1_b1(1.0, 1.0, M), d2_a1_b2(1.0, 2.0, M);
  static EnergyCorrelatorMseries m2_b1(2, 1.0, M), m2_b2(2, 2.0, M);
  static EnergyCorrelatorNseries n2_b1(2, 1.0, M), n2_b2(2, 2.0, M);
  const std::vector<PseudoJet> cons = jet.constituents();
  const PseudoJet g = mmdt(jet);
  const double vals[NOUT] = {
      jet.pt(), jet.eta(), jet.phi_std(), jet.m(),
      zlogz(jet, cons), c1_b0(g), c1_b1(g), c1_b2(g), c2_b1(g), c2_b2(g),
      d2_b1(g), d2_b2(g), d2_a1_b1(g), d2_a1_b2(g), m2_b1(g), m2_b2(g),
      n2_b1(g), n2_b2(g), g.m(), static_cast<double>(cons.size()),
      g.pt(), static_cast<double>(g.constituents().size())};
  std::copy(vals, vals + NOUT, v);
}

std::vector<PseudoJet> particles(int n, const double* px, const double* py, const double* pz, const double* e) {
  std::vector<PseudoJet> parts;
  parts.reserve(n);
  for (int i = 0; i < n; ++i) parts.emplace_back(px[i], py[i], pz[i], e[i]);
  return parts;
}

int event(int n, const double* px, const double* py, const double* pz, const double* e, double R, double ptmin,
          int max_jets, double* out, void (*features)(const PseudoJet&, double*)) {
  ClusterSequence cs(particles(n, px, py, pz, e), JetDefinition(antikt_algorithm, R));
  std::vector<PseudoJet> jets = sorted_by_pt(cs.inclusive_jets(ptmin));
  const int nj = std::min<int>(max_jets, static_cast<int>(jets.size()));
  for (int j = 0; j < nj; ++j) features(jets[j], out + j * NOUT);
  return nj;
}
}  // namespace

extern "C" {

int jsc_nout() { return NOUT; }
const char* jsc_name(int i) { return (i >= 0 && i < NOUT) ? NAMES[i] : ""; }

// Cluster n particles (E-scheme anti-kT, radius R), keep inclusive jets above ptmin sorted by pT and
// write NOUT values for each of the first max_jets jets into out. Returns the number of jets written.
int jsc_event(int n, const double* px, const double* py, const double* pz, const double* e,
              double R, double ptmin, int max_jets, double* out) {
  return event(n, px, py, pz, e, R, ptmin, max_jets, out, fused_features);
}

int jsc_event_fjcontrib(int n, const double* px, const double* py, const double* pz, const double* e,
                        double R, double ptmin, int max_jets, double* out) {
  return event(n, px, py, pz, e, R, ptmin, max_jets, out, fjcontrib_features);
}

// The n constituents of ONE jet found elsewhere (e.g. by Pythia's SlowJet, which runs fjcore's anti-kT):
// joined by C/A with the maximal radius into that jet (the clustering mMDT reclusters with anyway), NOUT values.
int jsc_jet(int n, const double* px, const double* py, const double* pz, const double* e, double* out) {
  if (n < 1) return 0;
  ClusterSequence cs(particles(n, px, py, pz, e),
                     JetDefinition(cambridge_algorithm, JetDefinition::max_allowable_R));
  const std::vector<PseudoJet> jets = cs.inclusive_jets(0.0);
  if (jets.size() != 1) return 0;
  fused_features(jets[0], out);
  return 1;
}

}  // extern "C"

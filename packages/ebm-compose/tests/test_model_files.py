"""Concept EBMs saved as model files load back whole and compose."""

import pytest
import torch
from ebm_compose.concepts import ConceptTrainingConfig, concept_energy
from ebm_compose.dsprites import concept_columns
from ebm_compose.model_files import ConceptSpec, build_concept_energy, load_concept_energy, save_concept_energy
from ebm_core import SumEnergy


def test_concept_energies_round_trip_and_compose(tmp_path):
    cfg = ConceptTrainingConfig(channels=(4, 8), hidden=8, label_frequencies=2)
    torch.manual_seed(0)
    energies, specs = [], []
    for concepts in (("scale",), ("position",)):
        energies.append(concept_energy(concepts, 16, cfg).eval())
        specs.append(ConceptSpec("dsprites", concepts, concept_columns(concepts), 16, cfg.channels, cfg.hidden,
                                 cfg.label_frequencies))
    attribute = build_concept_energy(ConceptSpec("attribute", ("Smiling",), (1,), 8, (4,))).eval()
    x, y = torch.rand(5, 1, 16, 16), torch.rand(5, 8)
    loaded = []
    for i, (energy, spec) in enumerate(zip(energies, specs)):
        back, spec_back = load_concept_energy(save_concept_energy(energy, spec, tmp_path / f"{i}.pt"))
        assert spec_back == spec and not back.training
        assert torch.equal(back(x, y), energy(x, y))
        loaded.append(back)
    both = SumEnergy([(e, None) for e in loaded], pass_y=True)
    assert torch.allclose(both(x, y), energies[0](x, y) + energies[1](x, y))
    xa, ya = torch.rand(3, 3, 8, 8), torch.tensor([[0, 1], [1, 0], [1, 1]])
    back, _ = load_concept_energy(save_concept_energy(attribute, ConceptSpec("attribute", ("Smiling",), (1,), 8, (4,)),
                                                      tmp_path / "attr.pt"))
    assert torch.equal(back(xa, ya), attribute(xa, ya))


def test_a_model_file_of_another_network_is_refused_naming_it(tmp_path):
    spec = ConceptSpec("dsprites", ("scale",), concept_columns(("scale",)), 16, (4, 8), 8)
    path = save_concept_energy(build_concept_energy(spec), spec, tmp_path / "scale.pt")
    saved = torch.load(path, weights_only=True)
    saved["config"]["channels"] = [4, 16]  # a wider network than the weights
    torch.save(saved, tmp_path / "wide.pt")
    with pytest.raises(ValueError, match="wide.pt cannot be used: its state_dict entry .* has shape"):
        load_concept_energy(tmp_path / "wide.pt")
    saved["config"]["network"] = "gan"
    torch.save(saved, tmp_path / "gan.pt")
    with pytest.raises(ValueError, match="gan.pt cannot be used: its config is refused .*'dsprites' or 'attribute'"):
        load_concept_energy(tmp_path / "gan.pt")

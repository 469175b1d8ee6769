"""The registry shared by experiments and evaluations: names, clashes, and modules that cannot load."""
import pytest

from airlib.registry import Registry


def test_names_get_and_a_clash_between_two_items_of_one_name():
    r = Registry("thing", (), same=lambda a, b: type(a) is type(b))
    r.register("b", 1)
    r.register("a", 2)
    assert r.names() == ["a", "b"] and r.get("a") == 2
    r.register("a", 3)                                   # the same kind of item again (a module imported anew)
    assert r.get("a") == 3
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        r.register("a", "not an int")
    with pytest.raises(ValueError, match="unknown thing 'c': expected one of a, b$"):
        r.get("c")


def test_a_module_that_lacks_a_package_is_named_when_a_name_is_missing():
    r = Registry("thing", ("airlib_no_such_module_for_tests",), same=lambda a, b: True)
    assert r.names() == []
    assert r.missing == {"airlib_no_such_module_for_tests": "airlib_no_such_module_for_tests"}
    with pytest.raises(ValueError, match="needs the package 'airlib_no_such_module_for_tests'"):
        r.get("x")

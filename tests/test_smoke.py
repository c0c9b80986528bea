from tests.conftest import page_text


def test_home_page_is_chinese_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    text = page_text(response)
    assert "松阳县留守儿童关爱保护服务平台" in text
    assert '<html lang="zh-CN">' in response.get_data(as_text=True)

import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ProductsService, type Product } from './products.service';

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get(':id')
  async get(@Param('id') id: string): Promise<Product> {
    const product = await this.products.getProduct(id);
    if (product === undefined) throw new NotFoundException(`no product ${id}`);
    return product;
  }
}
